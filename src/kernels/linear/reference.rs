//! The oracle: the recurrence written literally, one scalar at a time, in f64.
//!
//! `S[i][j] <- exp(g_i) S[i][j]; r_j = Σ_i S[i][j] k_i; S[i][j] += k_i β (v_j - r_j)` (delta rule,
//! repeated for each of a token's Householder steps) or `S[i][j] += k_i v_j`; then `o_j = Σ_i q_i S[i][j]`. No tensor algebra, so it shares no bug with the
//! kernels it checks.

use super::{Gate, Inputs, Output};
use candle_core::{DType, Result, Tensor};

fn flat(t: &Tensor) -> Result<Vec<f64>> {
    t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()
}

/// Runs the recurrence on the CPU in f64; returns f64 tensors shaped like [`super::run`]'s output.
pub fn run(x: &Inputs) -> Result<Output> {
    let (nb, nt, nh, dk) = x.q.dims4()?;
    let n = x.householder.max(1);
    let dv = x.v.dim(3)?;
    let (q, k, v) = (flat(&x.q)?, flat(&x.k)?, flat(&x.v)?);
    let (g, per_channel) = match &x.gate {
        Gate::None => (None, false),
        Gate::Scalar(g) => (Some(flat(g)?), false),
        Gate::Channel(g) => (Some(flat(g)?), true),
    };
    let beta = x.beta.as_ref().map(flat).transpose()?;
    let low_rank = x.low_rank.as_ref().map(|(a, b)| Ok::<_, candle_core::Error>((flat(a)?, flat(b)?))).transpose()?;
    let s0 = x.initial_state.as_ref().map(flat).transpose()?;
    let mut o = vec![0f64; nb * nt * nh * dv];
    let mut s_out = vec![0f64; nb * nh * dk * dv];
    for b in 0..nb {
        for h in 0..nh {
            let base = (b * nh + h) * dk * dv;
            let mut s: Vec<f64> = match &s0 {
                Some(s0) => s0[base..base + dk * dv].to_vec(),
                None => vec![0.0; dk * dv],
            };
            for t in 0..nt {
                let row = (b * nt + t) * nh + h; // index of (b, t, h)
                let qt = &q[row * dk..][..dk];
                if x.exclusive {
                    for j in 0..dv {
                        o[row * dv + j] = (0..dk).map(|i| qt[i] * s[i * dv + j]).sum();
                    }
                }
                // Rank-one term from the state before the decay: add b_i (Σ_l a_l S[l][j]).
                let rank_one: Option<Vec<f64>> = low_rank.as_ref().map(|(a, bv)| {
                    let (a, bv) = (&a[row * dk..][..dk], &bv[row * dk..][..dk]);
                    let u: Vec<f64> = (0..dv).map(|j| (0..dk).map(|l| a[l] * s[l * dv + j]).sum()).collect();
                    (0..dk * dv).map(|ij| bv[ij / dv] * u[ij % dv]).collect()
                });
                if let Some(g) = &g {
                    for i in 0..dk {
                        let gi = if per_channel { g[row * dk + i] } else { g[row] };
                        for j in 0..dv {
                            s[i * dv + j] *= gi.exp();
                        }
                    }
                }
                if let Some(r1) = &rank_one {
                    for (si, ri) in s.iter_mut().zip(r1) {
                        *si += ri;
                    }
                }
                // The token's writes: one, or `householder` delta steps on rows t·n .. t·n + n - 1.
                for step in 0..n {
                    let krow = ((b * nt + t) * n + step) * nh + h; // index of (b, t·n + step, h)
                    let (kt, vt) = (&k[krow * dk..][..dk], &v[krow * dv..][..dv]);
                    let write: Vec<f64> = match &beta {
                        Some(beta) => (0..dv)
                            .map(|j| {
                                let recalled: f64 = (0..dk).map(|i| s[i * dv + j] * kt[i]).sum();
                                beta[krow] * (vt[j] - recalled)
                            })
                            .collect(),
                        None => vt.to_vec(),
                    };
                    for i in 0..dk {
                        for j in 0..dv {
                            s[i * dv + j] += kt[i] * write[j];
                        }
                    }
                }
                if !x.exclusive {
                    for j in 0..dv {
                        o[row * dv + j] = (0..dk).map(|i| qt[i] * s[i * dv + j]).sum();
                    }
                }
            }
            s_out[base..base + dk * dv].copy_from_slice(&s);
        }
    }
    let dev = candle_core::Device::Cpu;
    Ok(Output {
        o: Tensor::from_vec(o, (nb, nt, nh, dv), &dev)?,
        state: Tensor::from_vec(s_out, (nb, nh, dk, dv), &dev)?,
    })
}
