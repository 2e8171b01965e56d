//! The recurrent form: one token at a time, exactly the table's state update.
//!
//! ```text
//!   S' = Diag(exp(g_t)) S_{t-1} [+ b_t a_t^T S_{t-1}]  (decay; rank-one term of RWKV-7)
//!   S_t = S' + k_t (β_t (v_t - S'^T k_t))^T           (delta rule)   or   S' + k_t v_t^T
//!   o_t = S_t^T q_t                                     (or S_{t-1}^T q_t, read first, when exclusive)
//! ```

use super::Heads;
use candle_core::{Result, Tensor};

pub(crate) fn run(x: &Heads) -> Result<(Tensor, Tensor)> {
    let mut s = x.s0.clone();
    let mut outs = Vec::with_capacity(x.t);
    for t in 0..x.t {
        let at = |m: &Tensor| m.narrow(2, t, 1); // [B, H, 1, D]
        let (q, k, v) = (at(&x.q)?, at(&x.k)?, at(&x.v)?);
        if x.exclusive {
            outs.push(q.matmul(&s)?); // o_t = S_{t-1}^T q_t
        }
        // The rank-one term reads the state before the decay: b_t (a_t^T S_{t-1}).
        let low_rank = match &x.low_rank {
            Some((a, b)) => Some(at(b)?.transpose(2, 3)?.matmul(&at(a)?.matmul(&s)?)?),
            None => None,
        };
        if let Some(g) = &x.g {
            // [B, H, 1, Dg] -> column [B, H, Dg, 1] scaling the rows (key channels) of S.
            s = s.broadcast_mul(&at(g)?.transpose(2, 3)?.exp()?)?;
        }
        if let Some(term) = low_rank {
            s = (s + term)?;
        }
        let k_col = k.transpose(2, 3)?; // [B, H, Dk, 1]
        let write = match &x.beta {
            Some(beta) => {
                let recalled = k.matmul(&s)?; // [B, H, 1, Dv] = S'^T k
                (v - recalled)?.broadcast_mul(&at(beta)?)?
            }
            None => v,
        };
        s = (s + k_col.matmul(&write)?)?;
        if !x.exclusive {
            outs.push(q.matmul(&s)?);
        }
    }
    let o = if outs.is_empty() {
        Tensor::zeros((x.b, x.h, 0, x.dv), x.dtype(), x.q.device())?
    } else {
        Tensor::cat(&outs, 2)?
    };
    Ok((o, s))
}
