//! Every fused CPU kernel agrees with the plain reference in its own folder (`seqbench::kernels`),
//! forward and gradients, at odd lengths that cross their block and checkpoint boundaries (64
//! tokens). Each test calls the fused op itself, so it compares two different implementations
//! whatever SEQBENCH_PLAIN_OPS says.

use candle_core::{DType, Device, Tensor, Var};
use seqbench::kernels::verify::{agreement, kernel_case, run_with_grads_by};
use seqbench::kernels::{self, attention, conv, loss, mlp, norm, rnn, rope, swiglu, Form, Recurrence};

#[test]
fn fused_scan_matches_the_plain_recurrent_form() {
    let mut failures = Vec::new();
    for kind in Recurrence::ALL {
        for t in [1, 63, 64, 65, 130] {
            for with_state in [false, true] {
                let case = kernel_case(kind, (2, t, 2, 16, 12), with_state, 11 + t as u64, DType::F32).unwrap();
                let fused = run_with_grads_by(&case, 3, kernels::linear::run_fused).unwrap();
                let plain = run_with_grads_by(&case, 3, |i| kernels::run_plain(Form::Recurrent, i)).unwrap();
                let a = agreement(&fused, &plain).unwrap();
                if !(a.output < 1e-5 && a.state < 1e-5 && a.grad < 1e-4) {
                    failures.push(format!(
                        "{} T={t} state={with_state}: out {:.2e} state {:.2e} grad({}) {:.2e}",
                        kind.name(),
                        a.output,
                        a.state,
                        a.worst_grad,
                        a.grad
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Relative RMS difference; a (nearly) zero reference, such as dQ when a query sees one key, is
/// judged against 1e-3 instead.
/// Relative RMS difference, against an RMS of at least 0.1: the inputs here are O(1), and a
/// gradient that is zero analytically (q's, with a single key: softmax is 1 whatever q is) is
/// f32 rounding of O(1) terms that cancel (~1e-7), which no finer floor can tell from an error.
fn rel(a: &Tensor, b: &Tensor) -> f64 {
    let d = (a - b).unwrap().sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() as f64;
    let n = b.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() as f64;
    (d / n.max(1e-2 * b.elem_count() as f64)).sqrt()
}

#[test]
fn fused_attention_matches_plain_attention() {
    let dev = Device::Cpu;
    let cases = [(1, 1, None), (63, 63, None), (65, 65, None), (130, 130, None), (1, 77, None), (5, 70, None)];
    // Sliding windows: shorter than a row block, spanning blocks, one key, wider than the keys.
    let windowed = [
        (130, 130, Some(7)),
        (131, 131, Some(70)),
        (65, 65, Some(1)),
        (5, 70, Some(9)),
        (1, 77, Some(13)),
        (33, 33, Some(99)),
    ];
    for (tq, tk, window) in cases.into_iter().chain(windowed) {
        let var = |name: &str, t: usize| {
            Var::from_tensor(
                &seqbench::rng::normal(tq as u64 * 1000 + tk as u64, name, (2, 3, t, 16), 1.0, &dev).unwrap(),
            )
            .unwrap()
        };
        let (q, k, v) = (var("q", tq), var("k", tk), var("v", tk));
        let scale = 0.25;
        let fused = attention::fused::causal_attention(&q, &k, &v, scale, window).unwrap();
        let plain = attention::reference::causal_attention(&q, &k, &v, scale, window).unwrap();
        let e = rel(&fused, &plain);
        assert!(e < 1e-5, "Tq={tq} Tk={tk} window {window:?}: forward differs by {e:.2e}");
        if tq != tk {
            continue; // the backward serves training, where Tq = Tk
        }
        let w = seqbench::rng::normal(9, "w", fused.dims(), 1.0, &dev).unwrap();
        let gf = (&fused * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gp = (&plain * &w).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, x) in [("q", &q), ("k", &k), ("v", &v)] {
            let e = rel(gf.get(x).unwrap(), gp.get(x).unwrap());
            assert!(e < 1e-4, "T={tq} window {window:?}: gradient of {name} differs by {e:.2e}");
        }
    }
}

/// The window's definition, checked against plain attention itself: with a window W, query i's
/// output is full causal attention over keys `i-W+1..=i` alone.
#[test]
fn a_sliding_window_is_attention_over_the_last_w_keys() {
    let dev = Device::Cpu;
    let (t, w) = (29, 6);
    let x = |name: &str| seqbench::rng::normal(3, name, (1, 2, t, 8), 1.0, &dev).unwrap();
    let (q, k, v) = (x("q"), x("k"), x("v"));
    let windowed = attention::reference::causal_attention(&q, &k, &v, 0.3, Some(w)).unwrap();
    for i in [0usize, 3, 5, 6, 17, 28] {
        let lo = (i + 1).saturating_sub(w);
        let (ks, vs) = (k.narrow(2, lo, i + 1 - lo).unwrap(), v.narrow(2, lo, i + 1 - lo).unwrap());
        let alone = attention::reference::causal_attention(&q.narrow(2, i, 1).unwrap(), &ks, &vs, 0.3, None).unwrap();
        let e = rel(&windowed.narrow(2, i, 1).unwrap(), &alone);
        assert!(e < 1e-6, "query {i}: {e:.2e}");
    }
}

/// Decoding writes each token into the KV cache's capacity buffers in place; across the first
/// buffer's room (256 positions) and a doubling (full attention) or two slides of the window back to
/// the buffer's start (sliding window, W = 32), the logits still equal the full forward's.
#[test]
fn in_place_kv_cache_decode_equals_the_full_forward() {
    let dev = Device::Cpu;
    for name in ["attention", "sliding-window-attention"] {
        let config = seqbench::model::config::load(name, "tiny").unwrap();
        let model = seqbench::model::LanguageModel::for_inference(&config, 5, &dev, candle_core::DType::F32).unwrap();
        let t = 600;
        let ids = seqbench::model::data::byte_ids(1, t, 3, &dev).unwrap();
        let full = model.forward(&ids, Form::Recurrent).unwrap(); // [1, T, 256]
        let mut states = model.empty_states(1).unwrap();
        let mut worst = 0f64;
        for i in 0..t {
            let logits = model.step(&ids.narrow(1, i, 1).unwrap(), &mut states).unwrap();
            let e = rel(&logits.squeeze(1).unwrap(), &full.narrow(1, i, 1).unwrap().squeeze(1).unwrap());
            worst = worst.max(e);
        }
        assert!(worst < 1e-4, "{name}: decode differs from the forward by {worst:.2e}");
        let held = config.window.map_or(t, |w| w.min(t));
        assert_eq!(states[0].bytes(), 2 * held * config.d_model * 4, "{name}: state bytes count the tokens held");
    }
}

/// Fused RMSNorm and SwiGLU against their composed forms, forward and gradients.
#[test]
fn fused_norm_and_swiglu_match_their_plain_forms() {
    let dev = Device::Cpu;
    let x = Var::from_tensor(&seqbench::rng::normal(1, "x", (3, 7, 24), 1.0, &dev).unwrap()).unwrap();
    let w = Var::from_tensor(&seqbench::rng::normal(1, "w", 24, 1.0, &dev).unwrap()).unwrap();
    let probe = seqbench::rng::normal(2, "probe", (3, 7, 24), 1.0, &dev).unwrap();
    let (fused, plain) = (norm::fused(&x, &w, 1e-6).unwrap(), norm::reference(&x, &w, 1e-6).unwrap());
    assert!(rel(&fused, &plain) < 1e-6, "rms norm forward");
    let gf = (&fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
    let gp = (&plain * &probe).unwrap().sum_all().unwrap().backward().unwrap();
    for (name, v) in [("x", &x), ("w", &w)] {
        let e = rel(gf.get(v).unwrap(), gp.get(v).unwrap());
        assert!(e < 1e-5, "rms norm gradient of {name} differs by {e:.2e}");
    }

    let gu = Var::from_tensor(&seqbench::rng::normal(3, "gu", (2, 5, 2 * 12), 2.0, &dev).unwrap()).unwrap();
    let (fused, plain) = (swiglu::fused(&gu).unwrap(), swiglu::reference(&gu).unwrap());
    assert!(rel(&fused, &plain) < 1e-6, "swiglu forward");
    let probe = seqbench::rng::normal(4, "probe", (2, 5, 12), 1.0, &dev).unwrap();
    let gf = (&fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
    let gp = (&plain * &probe).unwrap().sum_all().unwrap().backward().unwrap();
    let e = rel(gf.get(&gu).unwrap(), gp.get(&gu).unwrap());
    assert!(e < 1e-5, "swiglu gradient differs by {e:.2e}");
}

/// The fused short causal conv + SiLU against its composed form, forward and the gradients of input,
/// taps and bias: without history (zero padding) and with K-1 rows of it, at lengths shorter than
/// the taps, one, and odd.
#[test]
fn fused_causal_conv_matches_the_plain_form() {
    let dev = Device::Cpu;
    for (k, t, history) in [(4, 1, 0), (4, 2, 0), (4, 1, 3), (4, 37, 0), (4, 37, 3), (3, 65, 2), (1, 9, 0)] {
        let c = 10;
        let x = Var::from_tensor(&seqbench::rng::normal(7, "x", (3, history + t, c), 1.0, &dev).unwrap()).unwrap();
        let w = Var::from_tensor(&seqbench::rng::normal(8, "w", (k, c), 0.7, &dev).unwrap()).unwrap();
        let bias = Var::from_tensor(&seqbench::rng::normal(9, "b", c, 0.5, &dev).unwrap()).unwrap();
        let fused = conv::fused(&x, &w, &bias, history).unwrap();
        let plain = conv::reference(&x, &w, &bias, history).unwrap();
        assert_eq!(fused.dims(), &[3, t, c]);
        let case = format!("K={k} T={t} history={history}");
        assert!(rel(&fused, &plain) < 1e-6, "causal conv forward, {case}");
        let probe = seqbench::rng::normal(10, "probe", (3, t, c), 1.0, &dev).unwrap();
        let gf = (&fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let gp = (&plain * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, v) in [("x", &x), ("w", &w), ("bias", &bias)] {
            let e = rel(gf.get(v).unwrap(), gp.get(v).unwrap());
            assert!(e < 1e-5, "causal conv gradient of {name} differs by {e:.2e}, {case}");
        }
    }
}

/// The fused weighted cross-entropy against its composed form (log_softmax, gather, weighting),
/// loss and the logits' gradient under an upstream factor: weights all one (language modelling), a
/// 0/1 query mask, fractional, all zero (loss and gradient 0), at odd row counts and vocabularies,
/// with logits large enough that a softmax without its maximum subtracted would overflow.
#[test]
fn fused_cross_entropy_matches_the_plain_form() {
    let dev = Device::Cpu;
    for (n, v, scale) in [(1, 2, 1.0), (37, 17, 3.0), (130, 256, 1.0), (9, 5, 60.0)] {
        let z = Var::from_tensor(&seqbench::rng::normal(11, "z", (n, v), scale, &dev).unwrap()).unwrap();
        let targets: Vec<u32> = (0..n as u32).map(|i| (i * 7 + 3) % v as u32).collect();
        let targets = Tensor::new(targets.as_slice(), &dev).unwrap();
        let mask: Vec<f32> = (0..n).map(|i| (i % 3 == 1) as u32 as f32).collect();
        let fraction: Vec<f32> = (0..n).map(|i| (i % 5) as f32 / 4.0).collect();
        for (kind, w) in [("ones", vec![1f32; n]), ("mask", mask), ("fractional", fraction), ("zeros", vec![0f32; n])] {
            let w = Tensor::new(w.as_slice(), &dev).unwrap();
            let fused = loss::fused(&z, &targets, &w).unwrap();
            let plain = loss::reference(&z, &targets, &w).unwrap();
            let case = format!("N={n} V={v} logits x{scale} weights {kind}");
            let (f, p) = (fused.to_scalar::<f32>().unwrap(), plain.to_scalar::<f32>().unwrap());
            assert!(f.is_finite() && (f - p).abs() <= 1e-5 * p.abs().max(1.0), "loss {f} vs {p}, {case}");
            let gf = (&fused * 2.5).unwrap().backward().unwrap();
            let gp = (&plain * 2.5).unwrap().backward().unwrap();
            let (gf, gp) = (gf.get(&z).unwrap(), gp.get(&z).unwrap());
            let e = (gf - gp).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(e < 1e-6, "gradient differs by {e:.2e}, {case}");
        }
    }
}

/// Fused RoPE against the composed form, forward (also with an offset) and gradient.
#[test]
fn fused_rope_matches_the_plain_form() {
    let dev = Device::Cpu;
    let x = Var::from_tensor(&seqbench::rng::normal(6, "x", (2, 3, 37, 16), 1.0, &dev).unwrap()).unwrap();
    for start in [0, 1000] {
        let fused = rope::fused(&x, start, 10_000.0).unwrap();
        let plain = rope::reference(&x, start, 10_000.0).unwrap();
        let e = rel(&fused, &plain);
        assert!(e < 1e-5, "start {start}: forward differs by {e:.2e}");
        let probe = seqbench::rng::normal(7, "probe", (2, 3, 37, 16), 1.0, &dev).unwrap();
        let gf = (&fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let gp = (&plain * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let e = rel(gf.get(&x).unwrap(), gp.get(&x).unwrap());
        assert!(e < 1e-5, "start {start}: gradient differs by {e:.2e}");
    }
}

/// Fused pair rotation with a per-head bias on an input shared by the heads (Mamba-3's B and C)
/// against the plain form, forward and the gradients of the input, the bias and the phases; with all
/// pairs turned, and with channels left unturned.
#[test]
fn fused_rotation_matches_the_plain_form() {
    use seqbench::kernels::rotation;
    let dev = Device::Cpu;
    for (n, a) in [(16, 4), (12, 6), (10, 3)] {
        let phase = Var::from_tensor(&seqbench::rng::normal(6, "phase", (2, 37, 3, a), 2.0, &dev).unwrap()).unwrap();
        let probe = seqbench::rng::normal(7, "probe", (2, 37, 3, n), 1.0, &dev).unwrap();
        let shared = Var::from_tensor(&seqbench::rng::normal(6, "shared", (2, 37, n), 1.0, &dev).unwrap()).unwrap();
        let bias = Var::from_tensor(&seqbench::rng::normal(6, "bias", (3, n), 1.0, &dev).unwrap()).unwrap();
        let fused = rotation::rotate_biased(&shared, &bias, &phase).unwrap();
        let plain = rotation::biased_reference(&shared, &bias, &phase).unwrap();
        let e = rel(&fused, &plain);
        assert!(e < 1e-6, "n={n} a={a}: biased forward differs by {e:.2e}");
        let gf = (&fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let gp = (&plain * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, v) in [("x", shared.as_tensor()), ("bias", bias.as_tensor()), ("phase", phase.as_tensor())] {
            let e = rel(gf.get(v).unwrap(), gp.get(v).unwrap());
            assert!(e < 1e-5, "n={n} a={a}: biased rotation's gradient of {name} differs by {e:.2e}");
        }
    }
}

/// The fused LSTM recurrence against its per-step reference, forward (outputs and the final cell)
/// and gradients of every input, from the gates its forward kept and from recomputed ones.
#[test]
fn fused_lstm_matches_the_per_step_reference() {
    let dev = Device::Cpu;
    // d = 13 and 5 rows take the step product's narrow and single-column tiles and a partial row tile;
    // one step (decoding) or one row takes its dot products.
    // (17, 9, 128): enough work per step (`THREADED_MIN_WORK`) that each half of the batch runs on
    // its own thread, halves of 8 and 9 rows.
    for (b, t, d) in [(3, 37, 8), (5, 19, 13), (2, 1, 8), (1, 9, 8), (17, 9, 128)] {
        let var = |name: &str, shape: Vec<usize>, scale: f64| {
            Var::from_tensor(&seqbench::rng::normal(8, name, shape, scale, &dev).unwrap()).unwrap()
        };
        let xg = var("xg", vec![b, t, 4 * d], 1.0);
        let u = var("u", vec![4 * d, d], 0.4);
        let h0 = var("h0", vec![b, d], 0.5);
        let c0 = var("c0", vec![b, d], 0.5);
        let (y, c_t) = rnn::lstm::fused(&xg, &u, &h0, &c0).unwrap();
        let (y_ref, c_ref) = rnn::lstm::reference(&xg, &u, &h0, &c0).unwrap();
        assert!(rel(&y, &y_ref) < 1e-5, "outputs differ by {:.2e}", rel(&y, &y_ref));
        assert!(rel(&c_t, &c_ref) < 1e-5, "final cell differs");
        let wy = seqbench::rng::normal(9, "wy", (b, t, d), 1.0, &dev).unwrap();
        let wc = seqbench::rng::normal(9, "wc", (b, d), 1.0, &dev).unwrap();
        let loss = |y: &Tensor, c: &Tensor| {
            ((y * &wy).unwrap().sum_all().unwrap() + (c * &wc).unwrap().sum_all().unwrap()).unwrap()
        };
        let gf = loss(&y, &c_t).backward().unwrap();
        let gp = loss(&y_ref, &c_ref).backward().unwrap();
        // The first backward used the gates the forward kept; a second one finds them taken and
        // recomputes them: the same gradients.
        let again = loss(&y, &c_t).backward().unwrap();
        for (name, v) in [("xg", &xg), ("u", &u), ("h0", &h0), ("c0", &c0)] {
            let e = rel(gf.get(v).unwrap(), gp.get(v).unwrap());
            assert!(e < 1e-4, "d={d}: gradient of {name} differs by {e:.2e}");
            let e = rel(again.get(v).unwrap(), gf.get(v).unwrap());
            assert!(e < 1e-6, "d={d}: gradient of {name} from recomputed gates differs by {e:.2e}");
        }
    }
}

/// The fused GRU recurrence against its per-step reference, forward and gradients.
#[test]
fn fused_gru_matches_the_per_step_reference() {
    let dev = Device::Cpu;
    // d = 13 and 5 rows take the step product's narrow and single-column tiles and a partial row tile;
    // one step (decoding) or one row takes its dot products.
    // (21, 9, 128): each half of the batch on its own thread (`THREADED_MIN_WORK`), halves of 10
    // and 11 rows.
    for (b, t, d) in [(3, 37, 8), (5, 19, 13), (2, 1, 8), (1, 9, 8), (21, 9, 128)] {
        let var = |name: &str, shape: Vec<usize>, scale: f64| {
            Var::from_tensor(&seqbench::rng::normal(10, name, shape, scale, &dev).unwrap()).unwrap()
        };
        let xg = var("xg", vec![b, t, 3 * d], 1.0);
        let u = var("u", vec![3 * d, d], 0.4);
        let bh = var("bh", vec![3 * d], 0.3);
        let h0 = var("h0", vec![b, d], 0.5);
        let y = rnn::gru::fused(&xg, &u, &bh, &h0).unwrap();
        let y_ref = rnn::gru::reference(&xg, &u, &bh, &h0).unwrap();
        assert!(rel(&y, &y_ref) < 1e-5, "outputs differ by {:.2e}", rel(&y, &y_ref));
        let w = seqbench::rng::normal(11, "w", (b, t, d), 1.0, &dev).unwrap();
        let gf = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gp = (&y_ref * &w).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, v) in [("xg", &xg), ("u", &u), ("b_h", &bh), ("h0", &h0)] {
            let e = rel(gf.get(v).unwrap(), gp.get(v).unwrap());
            assert!(e < 1e-4, "d={d}: gradient of {name} differs by {e:.2e}");
        }
    }
}

/// The few-row projection of a decode step against the plain matmul, forward and gradients, at
/// every row count it serves.
#[test]
fn small_matmul_matches_the_plain_product() {
    let dev = Device::Cpu;
    for m in 1..=seqbench::kernels::gemv::MAX_ROWS {
        let x = Var::from_tensor(&seqbench::rng::normal(12, "x", (m, 37), 1.0, &dev).unwrap()).unwrap();
        let w = Var::from_tensor(&seqbench::rng::normal(12, "w", (29, 37), 0.3, &dev).unwrap()).unwrap();
        let fused = seqbench::kernels::gemv::small_matmul(&x, &w).unwrap();
        let plain = seqbench::kernels::gemv::reference(&x, &w).unwrap();
        assert!(rel(&fused, &plain) < 1e-6, "m={m}: forward differs by {:.2e}", rel(&fused, &plain));
        let probe = seqbench::rng::normal(13, "probe", (m, 29), 1.0, &dev).unwrap();
        let gf = (&fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let gp = (&plain * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, v) in [("x", &x), ("w", &w)] {
            let e = rel(gf.get(v).unwrap(), gp.get(v).unwrap());
            assert!(e < 1e-5, "m={m}: gradient of {name} differs by {e:.2e}");
        }
    }
}

/// The few-row projection where the weights are large enough to be split over the threads (over
/// 4 MiB), and with bf16 weights (widened to f32 in the dot product, the result rounded to bf16),
/// against the plain matmul at odd sizes.
#[test]
fn small_matmul_splits_large_weights_and_reads_bf16() {
    let dev = Device::Cpu;
    for m in [1, 3] {
        let x = seqbench::rng::normal(14, "x", (m, 1031), 1.0, &dev).unwrap();
        let w = seqbench::rng::normal(14, "w", (1027, 1031), 0.03, &dev).unwrap();
        let fused = seqbench::kernels::gemv::small_matmul(&x, &w).unwrap();
        let plain = seqbench::kernels::gemv::reference(&x, &w).unwrap();
        assert!(rel(&fused, &plain) < 1e-6, "m={m}: split forward differs by {:.2e}", rel(&fused, &plain));
        let (xb, wb) = (x.to_dtype(DType::BF16).unwrap(), w.to_dtype(DType::BF16).unwrap());
        let fused = seqbench::kernels::gemv::project(&xb, &wb).unwrap();
        assert_eq!(fused.dtype(), DType::BF16);
        let plain = seqbench::kernels::gemv::reference(&xb, &wb).unwrap();
        let e = rel(&fused.to_dtype(DType::F32).unwrap(), &plain.to_dtype(DType::F32).unwrap());
        assert!(e < 1e-2, "m={m}: bf16 forward differs by {e:.2e}");
    }
}

/// The fused activations against their plain forms, forward and gradient, over values from -40 to
/// 40 (where e^{±x} over- or underflows a naive form) and around 0.
#[test]
fn fused_activations_match_the_plain_forms() {
    use seqbench::kernels::activation::Kind;
    let dev = Device::Cpu;
    let wide = (seqbench::rng::normal(8, "x", (3, 7, 129), 1.0, &dev).unwrap() * 13.0).unwrap();
    let x = Var::from_tensor(&wide.clamp(-40f32, 40f32).unwrap()).unwrap();
    let probe = seqbench::rng::normal(9, "probe", (3, 7, 129), 1.0, &dev).unwrap();
    for kind in Kind::ALL {
        let fused = kind.fused(&x).unwrap();
        let plain = kind.reference(&x).unwrap();
        let e = rel(&fused, &plain);
        assert!(e < 1e-5, "{kind:?}: forward differs by {e:.2e}");
        let gf = (&fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let gp = (&plain * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let e = rel(gf.get(&x).unwrap(), gp.get(&x).unwrap());
        assert!(e < 1e-5, "{kind:?}: gradient differs by {e:.2e}");
    }
}

/// The fused L2 normalisation against its plain form, forward and gradient, on rows of odd width,
/// one of them all zeros (where ε decides).
#[test]
fn fused_l2_normalize_matches_the_plain_form() {
    let dev = Device::Cpu;
    let x = seqbench::rng::normal(4, "x", (2, 5, 3, 17), 2.0, &dev).unwrap();
    let zero_row = Tensor::zeros((1, 5, 3, 17), DType::F32, &dev).unwrap();
    let x = Var::from_tensor(&Tensor::cat(&[&x, &zero_row], 0).unwrap()).unwrap();
    let probe = seqbench::rng::normal(5, "probe", (3, 5, 3, 17), 1.0, &dev).unwrap();
    let fused = norm::l2_fused(&x, 1e-6).unwrap();
    let plain = norm::l2_reference(&x, 1e-6).unwrap();
    let e = rel(&fused, &plain);
    assert!(e < 1e-5, "forward differs by {e:.2e}");
    let gf = (&fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
    let gp = (&plain * &probe).unwrap().sum_all().unwrap().backward().unwrap();
    // The zero row's gradient is dy / sqrt(ε), 1000x the others': compare the two parts apart.
    let (gf, gp) = (gf.get(&x).unwrap(), gp.get(&x).unwrap());
    for (part, start, len) in [("rows", 0, 2), ("zero row", 2, 1)] {
        let e = rel(&gf.narrow(0, start, len).unwrap(), &gp.narrow(0, start, len).unwrap());
        assert!(e < 1e-5, "{part}: gradient differs by {e:.2e}");
    }
}

/// The fused SwiGLU MLP against the composed projections and gate, forward and the gradients of the
/// input and both weights, at row counts around the gemm's blocks and a hidden width that is not a
/// multiple of the vector width.
#[test]
fn fused_mlp_matches_the_composed_form() {
    let dev = Device::Cpu;
    // The last case is large enough for the products to split over the thread pool.
    for (n, d, m) in [(1, 8, 5), (37, 16, 43), (130, 32, 86), (600, 64, 100)] {
        let x = Var::from_tensor(&seqbench::rng::normal(1, "x", (n, d), 1.0, &dev).unwrap()).unwrap();
        let w_gu = Var::from_tensor(&seqbench::rng::normal(2, "w_gu", (2 * m, d), 0.3, &dev).unwrap()).unwrap();
        let w_d = Var::from_tensor(&seqbench::rng::normal(3, "w_d", (d, m), 0.3, &dev).unwrap()).unwrap();
        let probe = seqbench::rng::normal(4, "probe", (n, d), 1.0, &dev).unwrap();
        let fused = mlp::fused(&x, &w_gu, &w_d).unwrap();
        let plain = mlp::reference(&x, &w_gu, &w_d).unwrap();
        let e = rel(&fused, &plain);
        assert!(e < 1e-5, "N={n} d={d} m={m}: forward differs by {e:.2e}");
        let gf = (&fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let gp = (&plain * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, v) in [("x", &x), ("W_gu", &w_gu), ("W_d", &w_d)] {
            let e = rel(gf.get(v).unwrap(), gp.get(v).unwrap());
            assert!(e < 1e-5, "N={n} d={d} m={m}: d{name} differs by {e:.2e}");
        }
    }
}

/// Broadcasting with the one-pass gradient against candle's `broadcast_as`, forward and gradient,
/// for every pattern the models use (a bias over rows, a per-head value over (B, T), B and C shared
/// by the heads, a per-head step over a head's channels) and odd sizes; `add` and `mul` against
/// `broadcast_add` / `broadcast_mul` in both operands.
#[test]
fn fused_expand_matches_broadcast_as() {
    use candle_core::Shape;
    use seqbench::kernels::broadcast;
    let dev = Device::Cpu;
    let cases: [(Vec<usize>, Vec<usize>); 6] = [
        (vec![7], vec![5, 3, 7]),
        (vec![5, 3, 1, 6], vec![5, 3, 4, 6]),
        (vec![5, 3, 4, 1], vec![5, 3, 4, 9]),
        (vec![4, 1], vec![2, 3, 4, 5]),
        (vec![1, 11], vec![13, 11]),
        (vec![3, 1, 1], vec![3, 2, 5]),
    ];
    for (i, (source, target)) in cases.into_iter().enumerate() {
        let x =
            Var::from_tensor(&seqbench::rng::normal(20 + i as u64, "x", source.clone(), 1.0, &dev).unwrap()).unwrap();
        let shape = Shape::from(target.clone());
        let fused = broadcast::expand(&x, &shape).unwrap();
        let plain = broadcast::expand_reference(&x, &shape).unwrap();
        assert_eq!(fused.dims(), target.as_slice());
        assert!(rel(&fused, &plain) == 0.0, "{source:?} -> {target:?}: forward differs");
        let probe = seqbench::rng::normal(30 + i as u64, "probe", target.clone(), 1.0, &dev).unwrap();
        let gf = (&fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let gp = (&plain * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let e = rel(gf.get(&x).unwrap(), gp.get(&x).unwrap());
        assert!(e < 1e-6, "{source:?} -> {target:?}: gradient differs by {e:.2e}");

        let y =
            Var::from_tensor(&seqbench::rng::normal(40 + i as u64, "y", target.clone(), 1.0, &dev).unwrap()).unwrap();
        for (name, fused, plain) in [
            ("add", broadcast::add(&y, &x).unwrap(), y.broadcast_add(&x).unwrap()),
            ("mul", broadcast::mul(&x, &y).unwrap(), x.broadcast_mul(&y).unwrap()),
        ] {
            assert!(rel(&fused, &plain) < 1e-7, "{name} {source:?} -> {target:?}: forward differs");
            let gf = (&fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            let gp = (&plain * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            for (operand, v) in [("x", &x), ("y", &y)] {
                let e = rel(gf.get(v).unwrap(), gp.get(v).unwrap());
                assert!(e < 1e-6, "{name} {source:?} -> {target:?}: gradient of {operand} differs by {e:.2e}");
            }
        }
    }
}
