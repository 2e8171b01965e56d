//! Thread control per phase. A decode step at a small batch is a chain of tiny matmuls
//! (1 x d by d x d): handing each to the thread pool costs more than the product (about 40 µs with two
//! threads against 2 µs with one on the 2-core reference machine), so small decode batches run on a
//! pool of one thread; training and prefill keep every core.

use std::sync::OnceLock;

/// Decode batches up to this size run single-threaded.
pub const SINGLE_THREAD_DECODE_BATCH: usize = 8;

fn one_thread() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "seqbench-decode".into())
            .build()
            .expect("a one-thread pool can be built")
    })
}

/// Runs one decode step of `batch` sequences with the threading that suits it.
pub fn for_decode<R: Send>(batch: usize, f: impl FnOnce() -> R + Send) -> R {
    if batch <= SINGLE_THREAD_DECODE_BATCH && std::env::var_os("SEQBENCH_DECODE_ALL_THREADS").is_none() {
        one_thread().install(f)
    } else {
        f()
    }
}
