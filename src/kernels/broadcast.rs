//! Broadcasting whose gradient is one pass: [`expand`] is `x.broadcast_as(shape).contiguous()`, and
//! its backward sums the gradient over the broadcast dimensions row by row. candle's own backward of
//! a broadcast sums over leading or middle dimensions with two integer divisions per element (its
//! generic `ReduceSum` path): a tenth of a tiny Mamba-2 training step and 6% of a tiny LSTM step in
//! perf, for sums into a bias, a per-head decay or B and C shared by the heads.
//!
//! ```text
//!   forward   y[i] = x[src(i)]           src(i): the index of i with every broadcast coordinate set to 0
//!   backward  dx[j] = Σ_{i: src(i) = j} dy[i]
//! ```
//!
//! [`add`] and [`mul`] are candle's `broadcast_add` / `broadcast_mul` with each operand expanded
//! this way (an operand already of the full shape is used as it is). Off the CPU, or under
//! SEQBENCH_PLAIN_OPS=1, they are candle's own ops ([`expand_reference`]).

use crate::kernels::cpu::{as_slice, serves};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// `x` broadcast to `shape` (numpy rules: `x`'s dims aligned to the right, each 1 or equal) and
/// made contiguous, with the one-pass backward where the fused kernels serve.
pub fn expand(x: &Tensor, shape: &Shape) -> Result<Tensor> {
    if x.shape() == shape {
        return Ok(x.clone());
    }
    if !serves(x) {
        return expand_reference(x, shape);
    }
    let plan = Plan::new(x.dims(), shape.dims())?;
    x.contiguous()?.apply_op1(Expand { plan })
}

/// The plain form: candle's `broadcast_as`, made contiguous.
pub fn expand_reference(x: &Tensor, shape: &Shape) -> Result<Tensor> {
    x.broadcast_as(shape)?.contiguous()
}

/// `a + b` with broadcasting.
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let shape = a.shape().broadcast_shape_binary_op(b.shape(), "add")?;
    expand(a, &shape)? + expand(b, &shape)?
}

/// `a ⊙ b` with broadcasting.
pub fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let shape = a.shape().broadcast_shape_binary_op(b.shape(), "mul")?;
    expand(a, &shape)? * expand(b, &shape)?
}

/// The walk over the target: its dims, and for each the source's stride (0 where broadcast); the
/// last dim is a row, copied (stride 1) or filled with one value (stride 0).
#[derive(Clone, Debug)]
struct Plan {
    source: Shape,
    target: Vec<usize>,
    strides: Vec<usize>,
}

impl Plan {
    fn new(source: &[usize], target: &[usize]) -> Result<Plan> {
        if source.len() > target.len() {
            candle_core::bail!("expand: {source:?} has more dims than {target:?}")
        }
        let pad = target.len() - source.len();
        let padded: Vec<usize> = std::iter::repeat_n(1, pad).chain(source.iter().copied()).collect();
        let mut strides = vec![0; target.len()];
        let mut stride = 1;
        for i in (0..target.len()).rev() {
            match (padded[i], target[i]) {
                (s, t) if s == t => strides[i] = stride,
                (1, _) => strides[i] = 0,
                _ => candle_core::bail!("expand: {source:?} does not broadcast to {target:?}"),
            }
            stride *= padded[i];
        }
        Ok(Plan { source: Shape::from(source.to_vec()), target: target.to_vec(), strides })
    }

    /// Calls `f(source offset, target row)` for every row (last dim) of the target, in order.
    fn rows(&self, mut f: impl FnMut(usize, std::ops::Range<usize>)) {
        let rank = self.target.len();
        let width = self.target[rank - 1];
        let n_rows: usize = self.target[..rank - 1].iter().product();
        let mut index = vec![0usize; rank - 1];
        let mut offset = 0usize;
        for row in 0..n_rows {
            f(offset, row * width..(row + 1) * width);
            // Odometer over the leading dims, keeping the source offset in step.
            for d in (0..rank - 1).rev() {
                index[d] += 1;
                offset += self.strides[d];
                if index[d] < self.target[d] {
                    break;
                }
                offset -= self.strides[d] * self.target[d];
                index[d] = 0;
            }
        }
    }

    fn row_is_copied(&self) -> bool {
        self.strides[self.target.len() - 1] == 1
    }
}

struct Expand {
    plan: Plan,
}

impl CustomOp1 for Expand {
    fn name(&self) -> &'static str {
        "fused-expand"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = as_slice(s, l)?;
        let total: usize = self.plan.target.iter().product();
        let mut y = vec![0f32; total];
        if total > 0 {
            let copied = self.plan.row_is_copied();
            self.plan.rows(|at, row| {
                let n = row.len();
                if copied {
                    y[row].copy_from_slice(&x[at..at + n]);
                } else {
                    y[row].fill(x[at]);
                }
            });
        }
        Ok((CpuStorage::F32(y), Shape::from(self.plan.target.clone())))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&ExpandBackward { plan: self.plan.clone() })?))
    }
}

/// The gradient of [`Expand`]: the target's gradient summed back onto the source.
struct ExpandBackward {
    plan: Plan,
}

impl CustomOp1 for ExpandBackward {
    fn name(&self) -> &'static str {
        "fused-expand-backward"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = as_slice(s, l)?;
        let mut dx = vec![0f32; self.plan.source.elem_count()];
        if !g.is_empty() {
            let copied = self.plan.row_is_copied();
            self.plan.rows(|at, row| {
                let n = row.len();
                if copied {
                    dx[at..at + n].iter_mut().zip(&g[row]).for_each(|(d, v)| *d += v);
                } else {
                    dx[at] += crate::kernels::cpu::sum_map(&g[row], |v| v);
                }
            });
        }
        Ok((CpuStorage::F32(dx), self.plan.source.clone()))
    }
}
