//! Building blocks shared by every model: seeded parameters, linear layers, RMSNorm, the short causal
//! convolution, and splitting into heads. Their operations are [`crate::kernels`]' (fused on the CPU
//! with explicit backward passes, plain ops elsewhere): candle's own `rms_norm`, `softmax_last_dim`,
//! `rope` and `sigmoid` fast paths drop gradients, so none of them is used.

use crate::rng;
use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::VarMap;
use std::sync::{Arc, Mutex};

/// Creates named, seeded parameters and registers them in a [`VarMap`] (for AdamW and safetensors).
#[derive(Clone)]
pub struct Params {
    map: VarMap,
    seed: u64,
    prefix: String,
    device: Device,
    /// False for inference: layers get the weights detached from their variables, so no op records
    /// an autograd graph and intermediates are freed as soon as they are used.
    trainable: bool,
    /// Dtype of the matrix weights ([`Params::matrix`]): the compute dtype of the products.
    matrix_dtype: DType,
    /// True when the parameters are only counted ([`Params::shapes_only`]).
    shapes_only: bool,
    /// Elements and bytes of every parameter defined so far (shared by all views).
    counted: Arc<Mutex<Count>>,
}

/// Elements and bytes of a model's parameters, each in its own dtype.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    pub elements: usize,
    pub bytes: usize,
}

impl Params {
    /// Trainable parameters whose matrices are held in `matrix_dtype` (the others in f32).
    pub fn new(seed: u64, device: &Device, matrix_dtype: DType) -> Self {
        Params {
            map: VarMap::new(),
            seed,
            prefix: String::new(),
            device: device.clone(),
            trainable: true,
            matrix_dtype,
            shapes_only: false,
            counted: Arc::default(),
        }
    }

    /// Parameters that are only counted, never drawn: each is a zero-stride view of one element
    /// with the right shape and dtype, so a model of any size is built in microseconds and a few
    /// bytes per tensor (`list`'s parameter and state counts at 1.3B). Such a model must not run.
    pub fn shapes_only(device: &Device, matrix_dtype: DType) -> Self {
        Params { trainable: false, shapes_only: true, ..Params::new(0, device, matrix_dtype) }
    }

    /// Parameters for inference only (see the `trainable` field); same names and values.
    pub fn frozen(seed: u64, device: &Device, matrix_dtype: DType) -> Self {
        Params { trainable: false, ..Params::new(seed, device, matrix_dtype) }
    }

    /// A view whose parameter names are prefixed with `name.`.
    pub fn sub(&self, name: &str) -> Params {
        let prefix = if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) };
        Params { prefix, ..self.clone() }
    }

    pub fn varmap(&self) -> &VarMap {
        &self.map
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Elements and bytes of every parameter defined through this map (all views share it).
    pub fn count(&self) -> Count {
        *self.counted.lock().expect("parameter count poisoned")
    }

    /// In [`Params::shapes_only`] mode, the stand-in for a parameter of `shape` in `dtype`.
    fn stand_in(&self, shape: impl Into<Shape>, dtype: DType) -> Result<Option<Tensor>> {
        if !self.shapes_only {
            return Ok(None);
        }
        Ok(Some(Tensor::zeros((), dtype, &self.device)?.broadcast_as(shape)?))
    }

    fn register(&self, name: &str, t: Tensor) -> Result<Tensor> {
        {
            let mut c = self.counted.lock().expect("parameter count poisoned");
            c.elements += t.elem_count();
            c.bytes += t.elem_count() * t.dtype().size_in_bytes();
        }
        if self.shapes_only {
            return Ok(t);
        }
        let full = if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) };
        let var = Var::from_tensor(&t)?;
        let out = if self.trainable { var.as_tensor().clone() } else { var.as_tensor().detach() };
        let mut data = self.map.data().lock().expect("parameter map poisoned");
        if data.insert(full.clone(), var).is_some() {
            candle_core::bail!("parameter {full} defined twice")
        }
        Ok(out)
    }

    fn full_name(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// `N(0, std^2)` initialised matrix that enters products as a whole (projection weights, the
    /// embedding), held in the compute dtype: drawn in f32, then rounded.
    pub fn matrix(&self, name: &str, shape: impl Into<candle_core::Shape>, std: f64) -> Result<Tensor> {
        let shape = shape.into();
        if let Some(t) = self.stand_in(shape.clone(), self.matrix_dtype)? {
            return self.register(name, t);
        }
        let t = rng::normal(self.seed, &self.full_name(name), shape, std, &self.device)?;
        self.register(name, t.to_dtype(self.matrix_dtype)?)
    }

    /// Uniform `[lo, hi)` initialised parameter.
    pub fn uniform(&self, name: &str, shape: impl Into<candle_core::Shape>, lo: f64, hi: f64) -> Result<Tensor> {
        let shape = shape.into();
        if let Some(t) = self.stand_in(shape.clone(), DType::F32)? {
            return self.register(name, t);
        }
        let t = rng::uniform(self.seed, &self.full_name(name), shape, lo, hi, &self.device)?;
        self.register(name, t)
    }

    /// Seeded uniform values that are not a parameter (used to derive initial values).
    pub fn draw_uniform(&self, name: &str, shape: impl Into<candle_core::Shape>, lo: f64, hi: f64) -> Result<Tensor> {
        rng::uniform(self.seed, &self.full_name(name), shape, lo, hi, &self.device)
    }

    /// Parameter filled with one value.
    pub fn constant(&self, name: &str, shape: impl Into<candle_core::Shape>, value: f64) -> Result<Tensor> {
        let shape = shape.into();
        if let Some(t) = self.stand_in(shape.clone(), DType::F32)? {
            return self.register(name, t);
        }
        let t = (Tensor::ones(shape, DType::F32, &self.device)? * value)?;
        self.register(name, t)
    }

    /// Parameter from given values.
    pub fn from_values(&self, name: &str, values: Vec<f32>) -> Result<Tensor> {
        let n = values.len();
        self.register(name, Tensor::from_vec(values, n, &self.device)?)
    }
}

/// `y = x W^T (+ b)`, `W: [out, in]`, initialised `N(0, gain^2 / in)`. `W` is held in the compute
/// dtype; `x` is rounded to it for the product and `y` comes back in `x`'s dtype (f32), so only the
/// product runs in low precision.
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn new(p: &Params, name: &str, d_in: usize, d_out: usize, bias: bool, gain: f64) -> Result<Self> {
        let p = p.sub(name);
        let weight = p.matrix("weight", (d_out, d_in), gain / (d_in as f64).sqrt())?;
        let bias = if bias { Some(p.constant("bias", d_out, 0.0)?) } else { None };
        Ok(Linear { weight, bias })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // Fold the leading dimensions into one so this is a single plain matmul.
        let dims = x.dims();
        let d_in = dims[dims.len() - 1];
        let mut out_dims = dims.to_vec();
        *out_dims.last_mut().expect("at least one dimension") = self.d_out();
        let x2 = x.reshape(((), d_in))?.to_dtype(self.weight.dtype())?;
        let y = crate::kernels::gemv::project(&x2, &self.weight)?;
        let y = y.to_dtype(x.dtype())?.reshape(out_dims)?;
        match &self.bias {
            Some(b) => crate::kernels::broadcast::add(&y, b),
            None => Ok(y),
        }
    }

    /// Output rows `block * n .. (block + 1) * n` as a layer of their own (one part of a fused
    /// projection applied to its own input).
    pub fn rows(&self, block: usize, n: usize) -> Result<Linear> {
        let bias = self.bias.as_ref().map(|b| b.narrow(0, block * n, n)).transpose()?;
        Ok(Linear { weight: self.weight.narrow(0, block * n, n)?, bias })
    }

    pub fn d_out(&self) -> usize {
        self.weight.dims()[0]
    }
}

/// `y = x / sqrt(mean(x^2) + eps) ⊙ w` over the last dimension.
#[derive(Clone, Debug)]
pub struct RmsNorm {
    pub weight: Tensor,
    pub eps: f64,
}

impl RmsNorm {
    pub fn new(p: &Params, name: &str, dim: usize) -> Result<Self> {
        Ok(RmsNorm { weight: p.sub(name).constant("weight", dim, 1.0)?, eps: 1e-6 })
    }

    /// `x / sqrt(mean(x²) + ε) ⊙ w` over the last dimension ([`crate::kernels::norm`]).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::kernels::norm::rms_norm(x, &self.weight, self.eps)
    }
}

/// Depthwise causal convolution of width K over time with its own carry (the last K-1 inputs), then
/// SiLU: `y_t = silu(Σ_{j<K} w_j ⊙ x_{t-K+1+j} + b)`. Used by Mamba-2 and the DeltaNets.
#[derive(Clone, Debug)]
pub struct ShortConv {
    /// `[K, channels]`.
    pub weight: Tensor,
    pub bias: Tensor,
    pub width: usize,
}

impl ShortConv {
    pub fn new(p: &Params, name: &str, channels: usize, width: usize) -> Result<Self> {
        let p = p.sub(name);
        let bound = 1.0 / (width as f64).sqrt();
        Ok(ShortConv {
            weight: p.uniform("weight", (width, channels), -bound, bound)?,
            bias: p.constant("bias", channels, 0.0)?,
            width,
        })
    }

    /// `x: [B, T, C]`, `carry: [B, K-1, C]` (zeros when None). Returns `y = silu(conv(x))`
    /// ([`kernels::conv::causal_conv_silu`](crate::kernels::conv::causal_conv_silu)) and the new carry.
    pub fn forward(&self, x: &Tensor, carry: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let (b, t, c) = x.dims3()?;
        let history = self.width - 1;
        let (input, given) = match carry {
            Some(carry) => (Tensor::cat(&[carry, x], 1)?, history),
            None => (x.clone(), 0),
        };
        let y = crate::kernels::conv::causal_conv_silu(&input, &self.weight, &self.bias, given)?;
        let new_carry = if given == 0 && t < history {
            Tensor::cat(&[&Tensor::zeros((b, history - t, c), x.dtype(), x.device())?, x], 1)?
        } else {
            input.narrow(1, input.dim(1)? - history, history)?.contiguous()?
        };
        Ok((y, new_carry))
    }
}

/// Splits the last dimension `H * D` of `[B, T, H*D]` into `[B, T, H, D]`.
pub fn split_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, t, hd) = x.dims3()?;
    x.reshape((b, t, heads, hd / heads))
}

/// Merges `[B, T, H, D]` into `[B, T, H*D]`.
pub fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let (b, t, h, d) = x.dims4()?;
    x.reshape((b, t, h * d))
}
