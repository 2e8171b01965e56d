//! Model presets: one TOML file per model in `configs/models/`, each naming its mixer and giving sizes
//! (`[sizes.tiny]`, `[sizes.small]`, ...). The shipped files are compiled in; any other file can be
//! given by path. Every field is validated with an error that names the file and the field.

use crate::error::UserError;
use crate::model::mixers::{MixerKind, MixerSpec, Sizes};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

// `PRESET_FILES`: every `configs/models/*.toml`, compiled in (so the binary works from any
// directory) by build.rs, which finds them itself: a new model is one file there.
include!(concat!(env!("OUT_DIR"), "/presets.rs"));

/// The largest sliding window a model file may ask for (a million tokens).
const MAX_WINDOW: usize = 1 << 20;

/// The size a model is built at unless told otherwise.
pub const DEFAULT_SIZE: &str = "small";

/// A model file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    name: String,
    mixer: String,
    #[serde(default)]
    description: String,
    /// Chunk size of the chunkwise form used for training the linear family.
    chunk_size: Option<usize>,
    /// A hybrid stack: the mixer of each layer, as a pattern repeated to `n_layers`
    /// (e.g. three gated_deltanet layers then one attention layer).
    layers: Option<Vec<String>>,
    /// Delta-rule mixers: `β = 2σ(·)` in [0, 2], so the transition `I - β k k^T` has eigenvalues
    /// in [-1, 1] (fla's `allow_neg_eigval`; Grazzi et al. 2024). Default off.
    allow_neg_eigval: Option<bool>,
    /// Sliding-window attention layers: each token attends to its last `window` tokens (itself
    /// included), so the KV cache holds at most `window` tokens. Required by them, refused elsewhere.
    window: Option<usize>,
    /// Gated DeltaProduct: delta-rule steps per token (n_h, default 2). Refused elsewhere.
    householder_steps: Option<usize>,
    /// Attention layers: key/value heads, each shared by `heads / kv_heads` query heads (grouped
    /// KV heads, GQA; default one per query head). Must divide the heads at every size.
    kv_heads: Option<usize>,
    sizes: BTreeMap<String, SizeTable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SizeTable {
    d_model: usize,
    n_layers: usize,
    head_dim: usize,
    d_mlp: Option<usize>,
    d_state: Option<usize>,
    conv_size: Option<usize>,
}

/// A fully resolved, validated model configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub name: String,
    pub size: String,
    pub description: String,
    pub mixer: MixerKind,
    pub d_model: usize,
    pub n_layers: usize,
    pub head_dim: usize,
    pub d_mlp: usize,
    pub d_state: usize,
    pub conv_size: usize,
    pub chunk_size: usize,
    pub vocab: usize,
    /// Hybrid stacks: the mixer of every layer (absent: every layer is `mixer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<MixerKind>>,
    /// Delta-rule mixers with `β` in [0, 2] (negative eigenvalues of the state transition).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_neg_eigval: bool,
    /// The sliding-window attention layers' window W (tokens each attends to, itself included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    /// Gated DeltaProduct's delta-rule steps per token (n_h; absent: 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub householder_steps: Option<usize>,
    /// The attention layers' key/value heads (absent: one per query head).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_heads: Option<usize>,
    /// Where the config came from (`built-in` or a path).
    pub source: String,
}

impl ModelConfig {
    /// The mixer of every layer.
    pub fn layer_kinds(&self) -> Vec<MixerKind> {
        match &self.layers {
            Some(l) => l.clone(),
            None => vec![self.mixer; self.n_layers],
        }
    }

    /// True when some layer is of the linear family (so the kernel form matters).
    pub fn has_linear(&self) -> bool {
        self.layer_kinds().iter().any(|k| k.is_linear())
    }

    /// Number of attention layers whose KV cache grows with every token (sliding-window layers stop
    /// growing at their window, so they are not counted).
    pub fn attention_layers(&self) -> usize {
        self.layer_kinds().iter().filter(|k| k.is_attention() && self.window_of(**k).is_none()).count()
    }

    /// Channels an attention layer caches per token for k (and again for v): `kv_heads x head_dim`.
    pub fn kv_width(&self) -> usize {
        self.kv_heads.map_or(self.d_model, |kv| kv * self.head_dim)
    }

    /// The window a layer of mixer `kind` attends over (sliding-window attention only).
    pub fn window_of(&self, kind: MixerKind) -> Option<usize> {
        kind.windowed().then_some(self.window).flatten()
    }

    /// `gated_deltanet x3 + attention x1`, or the single mixer's name.
    pub fn mixer_summary(&self) -> String {
        let Some(_) = &self.layers else {
            return self.mixer.name().to_string();
        };
        let mut counts: Vec<(MixerKind, usize)> = Vec::new();
        for k in self.layer_kinds() {
            match counts.iter_mut().find(|(c, _)| *c == k) {
                Some((_, n)) => *n += 1,
                None => counts.push((k, 1)),
            }
        }
        counts.iter().map(|(k, n)| format!("{} x{n}", k.name())).collect::<Vec<_>>().join(" + ")
    }

    /// The spec of layer `layer`.
    pub fn mixer_spec(&self, layer: usize) -> MixerSpec {
        MixerSpec {
            kind: self.layer_kinds()[layer],
            d_model: self.d_model,
            head_dim: self.head_dim,
            d_state: self.d_state,
            conv_size: self.conv_size,
            layer,
            n_layers: self.n_layers,
            allow_neg_eigval: self.allow_neg_eigval,
            window: self.window_of(self.layer_kinds()[layer]),
            householder_steps: self.householder_steps.unwrap_or(crate::kernels::HOUSEHOLDER_STEPS),
            kv_heads: self.kv_heads.unwrap_or(self.d_model / self.head_dim),
        }
    }

    /// `name@size`, how results refer to the model.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.size)
    }
}

/// Names of the shipped models, in the registry's order of their mixers (hybrid stacks after the
/// single-mixer models): the order of `list`, of the default suites and of the charts' colours.
pub fn built_in_names() -> Vec<&'static str> {
    static ORDER: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    ORDER
        .get_or_init(|| {
            let mut keyed: Vec<((bool, usize), &'static str)> = PRESET_FILES
                .iter()
                .map(|(name, text)| {
                    let file: Option<ModelFile> = toml::from_str(text).ok();
                    let hybrid = file.as_ref().is_some_and(|f| f.layers.is_some());
                    let place = file.and_then(|f| MixerKind::parse(&f.mixer)).map_or(usize::MAX, |k| k.index());
                    ((hybrid, place), *name)
                })
                .collect();
            keyed.sort();
            keyed.into_iter().map(|(_, n)| n).collect()
        })
        .clone()
}

/// Resolves `name` (a shipped model, or a path to a `.toml` file; `name@size` picks a size) at
/// `size` (used when the name carries none).
pub fn load(name: &str, size: &str) -> Result<ModelConfig, UserError> {
    let (name, size) = match name.rsplit_once('@') {
        Some((n, s)) => (n, s),
        None => (name, size),
    };
    if let Some((_, text)) = PRESET_FILES.iter().find(|(n, _)| *n == name) {
        return parse(text, &format!("configs/models/{name}.toml"), size, "built-in");
    }
    if name.ends_with(".toml") || Path::new(name).exists() {
        let text = std::fs::read_to_string(name)
            .map_err(|e| UserError::Usage(format!("{name}: cannot read model config: {e}")))?;
        return parse(&text, name, size, name);
    }
    Err(UserError::Usage(format!(
        "unknown model `{name}` (known: {}; or give a path to a .toml file)",
        built_in_names().join(", ")
    )))
}

fn field_err(file: &str, field: impl Into<String>, message: impl Into<String>) -> UserError {
    UserError::Config { file: file.to_string(), field: field.into(), message: message.into() }
}

/// A TOML error as one line: `file:line: `table.key`: message` (the key when the error points at one).
pub(crate) fn toml_error(text: &str, file: &str, e: &toml::de::Error) -> UserError {
    let message = e.message().replace('\n', " ");
    let Some(span) = e.span() else {
        return UserError::Usage(format!("{file}: {message}"));
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let section = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').to_string());
    match line.split_once('=') {
        Some((key, _)) if !message.contains("unknown field") => {
            let key = key.trim();
            let field = section.map_or(key.to_string(), |s| format!("{s}.{key}"));
            UserError::Usage(format!("{file}:{line_no}: `{field}`: {message}"))
        }
        _ if line.trim_start().starts_with('[') => UserError::Usage(format!(
            "{file}:{line_no}: `{}`: {message}",
            line.trim().trim_matches(|c| c == '[' || c == ']')
        )),
        _ => UserError::Usage(format!("{file}:{line_no}: {message}")),
    }
}

/// Parses and validates a model file's text; `file` is used in error messages.
pub fn parse(text: &str, file: &str, size: &str, source: &str) -> Result<ModelConfig, UserError> {
    let raw: ModelFile = toml::from_str(text).map_err(|e| toml_error(text, file, &e))?;
    let mixer = MixerKind::parse(&raw.mixer).ok_or_else(|| {
        let known: Vec<_> = MixerKind::all().map(|k| k.name()).collect();
        field_err(file, "mixer", format!("unknown mixer `{}` (known: {})", raw.mixer, known.join(", ")))
    })?;
    let s = raw.sizes.get(size).ok_or_else(|| {
        let known: Vec<_> = raw.sizes.keys().cloned().collect();
        field_err(file, format!("sizes.{size}"), format!("no size `{size}` (this file has: {})", known.join(", ")))
    })?;
    let f = |name: &str| format!("sizes.{size}.{name}");
    let positive = |value: usize, name: &str| -> Result<(), UserError> {
        if value == 0 {
            return Err(field_err(file, f(name), "must be positive"));
        }
        Ok(())
    };
    positive(s.d_model, "d_model")?;
    positive(s.n_layers, "n_layers")?;
    positive(s.head_dim, "head_dim")?;
    if s.d_model % s.head_dim != 0 {
        return Err(field_err(
            file,
            f("head_dim"),
            format!("must divide d_model ({} is not a multiple of {})", s.d_model, s.head_dim),
        ));
    }
    let layers = match &raw.layers {
        None => None,
        Some(pattern) => {
            if pattern.is_empty() || s.n_layers % pattern.len() != 0 {
                return Err(field_err(
                    file,
                    "layers",
                    format!(
                        "a pattern of {} mixers cannot be repeated to n_layers = {} (it must divide it)",
                        pattern.len(),
                        s.n_layers
                    ),
                ));
            }
            let kinds = pattern
                .iter()
                .map(|m| MixerKind::parse(m).ok_or_else(|| field_err(file, "layers", format!("unknown mixer `{m}`"))))
                .collect::<Result<Vec<_>, _>>()?;
            Some(kinds.iter().cycle().take(s.n_layers).copied().collect::<Vec<_>>())
        }
    };
    let kinds: Vec<MixerKind> = layers.clone().unwrap_or_else(|| vec![mixer]);
    let d_state = s.d_state.unwrap_or(64);
    let conv_size = s.conv_size.unwrap_or(4);
    let sizes = Sizes { d_model: s.d_model, head_dim: s.head_dim, d_state, conv_size };
    let mut seen: Vec<MixerKind> = Vec::new();
    for k in &kinds {
        if !seen.contains(k) {
            seen.push(*k);
            (k.descriptor().validate)(&sizes).map_err(|(field, message)| field_err(file, f(field), message))?;
        }
    }
    if s.d_model > 65_536 || s.n_layers > 1024 {
        return Err(field_err(file, f("d_model"), "is implausibly large (d_model <= 65536, n_layers <= 1024)"));
    }
    let d_mlp = s.d_mlp.unwrap_or_else(|| (8 * s.d_model / 3).div_ceil(8) * 8);
    positive(d_mlp, "d_mlp")?;
    positive(d_state, "d_state")?;
    if !(2..=16).contains(&conv_size) {
        return Err(field_err(file, f("conv_size"), format!("must be between 2 and 16 (got {conv_size})")));
    }
    let chunk_size = raw.chunk_size.unwrap_or(crate::kernels::DEFAULT_CHUNK);
    if !chunk_size.is_power_of_two() {
        return Err(field_err(file, "chunk_size", format!("must be a power of two (got {chunk_size})")));
    }
    check_mixer_keys(&raw, &kinds, s.d_model / s.head_dim, size, file)?;
    let allow_neg_eigval = raw.allow_neg_eigval.unwrap_or(false);
    if raw.name.trim().is_empty() {
        return Err(field_err(file, "name", "must not be empty"));
    }
    Ok(ModelConfig {
        name: raw.name,
        size: size.to_string(),
        description: raw.description,
        mixer,
        d_model: s.d_model,
        n_layers: s.n_layers,
        head_dim: s.head_dim,
        d_mlp,
        d_state,
        conv_size,
        chunk_size,
        vocab: 256,
        layers,
        allow_neg_eigval,
        window: raw.window,
        householder_steps: raw.householder_steps,
        kv_heads: raw.kv_heads,
        source: source.to_string(),
    })
}

/// The keys that apply to some mixers only (`allow_neg_eigval`, `window`, `householder_steps`,
/// `kv_heads`): each must fit the model's layers; `heads` is the number of query heads.
fn check_mixer_keys(
    raw: &ModelFile,
    kinds: &[MixerKind],
    heads: usize,
    size: &str,
    file: &str,
) -> Result<(), UserError> {
    if raw.allow_neg_eigval == Some(true) {
        use crate::kernels::Recurrence;
        if let Some(k) = kinds.iter().find(|k| !k.descriptor().recurrence.is_some_and(Recurrence::delta)) {
            return Err(field_err(
                file,
                "allow_neg_eigval",
                format!(
                    "applies to the delta-rule mixers ({}), not to `{}`",
                    MixerKind::all()
                        .filter(|m| m.descriptor().recurrence.is_some_and(Recurrence::delta))
                        .map(|m| m.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    k.name()
                ),
            ));
        }
    }
    let windowed = kinds.iter().any(|k| k.windowed());
    match raw.window {
        Some(0) => return Err(field_err(file, "window", "must be positive (tokens each query attends to)")),
        Some(w) if w > MAX_WINDOW => {
            return Err(field_err(file, "window", format!("is implausibly large ({w} > {MAX_WINDOW})")))
        }
        Some(_) if !windowed => {
            return Err(field_err(
                file,
                "window",
                "applies to sliding_window_attention layers, and this model has none",
            ))
        }
        None if windowed => {
            return Err(field_err(file, "window", "is required by sliding_window_attention (e.g. window = 64)"))
        }
        _ => {}
    }
    match raw.householder_steps {
        Some(0) => return Err(field_err(file, "householder_steps", "must be at least 1 (delta-rule steps per token)")),
        Some(n) if n > 16 => {
            return Err(field_err(file, "householder_steps", format!("is implausibly large ({n} > 16)")))
        }
        Some(_) if !kinds.iter().any(|k| k.recurrence() == Some(crate::kernels::Recurrence::GatedDeltaProduct)) => {
            return Err(field_err(
                file,
                "householder_steps",
                "applies to gated_deltaproduct layers, and this model has none",
            ))
        }
        _ => {}
    }
    if let Some(kv) = raw.kv_heads {
        if !kinds.iter().any(|k| k.is_attention()) {
            return Err(field_err(file, "kv_heads", "applies to attention layers, and this model has none"));
        }
        if kv == 0 || heads % kv != 0 {
            return Err(field_err(
                file,
                "kv_heads",
                format!("must divide the {heads} query heads of size `{size}` (got {kv})"),
            ));
        }
    }
    Ok(())
}
