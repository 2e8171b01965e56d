//! The built-in corpus and the batch sampler.

use candle_core::Device;
use seqbench::model::data::{synthetic, valid_windows, Batcher, Corpus};

#[test]
fn synthetic_corpus_is_seeded_and_well_formed() {
    let a = synthetic::generate(20_000, 9);
    let b = synthetic::generate(20_000, 9);
    let c = synthetic::generate(20_000, 10);
    assert_eq!(a.bytes, b.bytes);
    assert_ne!(a.bytes, c.bytes);
    assert_eq!(a.bytes.len(), a.bits.len());
    assert!(a.bytes.len() >= 20_000);
    // Every line starts with its type byte and ends with a newline.
    let text = String::from_utf8(a.bytes.clone()).unwrap();
    for line in text.lines() {
        let kind = line.as_bytes()[0];
        assert!(b"tdr".contains(&kind), "bad line {line:?}");
        if kind != b't' {
            assert_eq!(&line[2..3], ":", "bad line {line:?}");
        }
    }
    // Recall lines copy the most recent definition of their label.
    let mut defs = std::collections::HashMap::new();
    for line in text.lines() {
        match line.as_bytes()[0] {
            b'd' => {
                defs.insert(line[1..2].to_string(), line[3..].to_string());
            }
            b'r' => assert_eq!(defs.get(&line[1..2]).unwrap(), &line[3..], "recall differs: {line:?}"),
            _ => {}
        }
    }
    // Information per byte is non-negative and the entropy rate is sensible (between 0.5 and 3 bits).
    assert!(a.bits.iter().all(|b| *b >= 0.0));
    let rate = a.bits.iter().sum::<f64>() / a.bits.len() as f64;
    assert!(rate > 0.5 && rate < 3.0, "entropy rate {rate}");
}

#[test]
fn corpus_splits_and_batches() {
    let c = Corpus::synthetic_sized(10_000, 1);
    assert!(c.valid.len() * 9 <= c.train.len() + 10 && c.valid.len() > 900);
    let floor = c.entropy_floor().unwrap();
    assert!(floor > 0.0);
    let mut b1 = Batcher::new(4);
    let mut b2 = Batcher::new(4);
    let (x1, y1) = b1.sample(&c.train, 3, 16, &Device::Cpu).unwrap();
    let (x2, _) = b2.sample(&c.train, 3, 16, &Device::Cpu).unwrap();
    assert_eq!(x1.to_vec2::<u32>().unwrap(), x2.to_vec2::<u32>().unwrap());
    // Targets are the inputs shifted by one.
    let (x, y) = (x1.to_vec2::<u32>().unwrap(), y1.to_vec2::<u32>().unwrap());
    for (xr, yr) in x.iter().zip(&y) {
        assert_eq!(&xr[1..], &yr[..15]);
    }
    let w = valid_windows(&c.valid, 100, 5);
    assert_eq!(w.len(), 5);
    assert_eq!(w[0].0[1..], w[0].1[..99]);
}

#[test]
fn corpus_from_file_rejects_tiny_files() {
    let dir = std::env::temp_dir().join(format!("seqbench-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let small = dir.join("small.txt");
    std::fs::write(&small, "hello world").unwrap();
    let err = Corpus::from_file(&small, 64).err().unwrap().to_string();
    assert!(err.contains("too small"), "{err}");
    let big = dir.join("big.txt");
    std::fs::write(&big, "the quick brown fox jumps over the lazy dog. ".repeat(200)).unwrap();
    let c = Corpus::from_file(&big, 64).unwrap();
    assert_eq!(c.train.len() + c.valid.len(), 9000);
    assert!(c.entropy_floor().is_none());
}
