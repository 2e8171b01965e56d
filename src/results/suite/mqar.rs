//! `[mqar]`: multi-query associative recall, test accuracy against the number of key-value pairs
//! and, optionally, against the model's width.

use super::supervised::{supervised_section, widened, ONE_RUN};
use super::{Cells, Check, Section, Suite};
use crate::error::UserError;
use crate::model::data::mqar::{Layout, MqarConfig};
use crate::results::{Measurement, Settings};

supervised_section! {
    /// Multi-query associative recall: accuracy against key-value pairs and, optionally, model width.
    pub struct MqarSection {
        pub vocab: usize,
        pub seq_len: usize,
        pub kv_pairs: Vec<usize>,
        /// Query layout: `zoology` (each key asked once, power-law gaps) or `random` (the default).
        pub layout: Option<String>,
        /// Width (d_model) of the models in the pairs sweep (default: the size preset's).
        pub d_model: Option<usize>,
        /// Head width of every model in this section, pairs and width sweeps (default: the preset's,
        /// capped at the width).
        pub head_dim: Option<usize>,
        /// Widths (d_model) for the accuracy-against-width sweep, at `width_kv_pairs` pairs.
        #[serde(default)]
        pub d_models: Vec<usize>,
        pub width_kv_pairs: Option<usize>,
        /// Retrieval beyond the training length: test lengths (each at least `seq_len`) at
        /// `length_kv_pairs` pairs, trained at `seq_len`, the queries pushed back from their keys.
        #[serde(default)]
        pub test_lens: Vec<usize>,
        pub length_kv_pairs: Option<usize>,
        /// The pair counts trained with `seeds` seeds (the headline settings); the others, and the
        /// width sweep, train one seed. Default: every setting gets `seeds`.
        pub seeded_kv_pairs: Option<Vec<usize>>,
    }
}

impl Section for MqarSection {
    fn validate(&self, check: &Check) -> Result<(), UserError> {
        check.nonempty_positive("mqar.kv_pairs", &self.kv_pairs)?;
        self.training("mqar").validate(check)?;
        let layout = match &self.layout {
            Some(l) => Layout::parse(l).map_err(|msg| check.err("mqar.layout", msg))?,
            None => Default::default(),
        };
        for &p in self.kv_pairs.iter().chain(self.width_kv_pairs.iter()).chain(self.length_kv_pairs.iter()) {
            let cfg = MqarConfig {
                vocab: self.vocab,
                seq_len: self.seq_len,
                kv_pairs: p,
                train_examples: self.train_examples,
                test_examples: self.test_examples,
                seed: 0,
                layout,
            };
            cfg.validate().map_err(|e| check.nested("mqar", e))?;
        }
        if !self.d_models.is_empty() && self.width_kv_pairs.is_none() {
            return Err(check.err("mqar.width_kv_pairs", "is required with mqar.d_models"));
        }
        if !self.test_lens.is_empty() && self.length_kv_pairs.is_none() {
            return Err(check.err("mqar.length_kv_pairs", "is required with mqar.test_lens"));
        }
        if let Some(&len) = self.test_lens.iter().find(|&&l| l < self.seq_len) {
            return Err(check.err(
                "mqar.test_lens",
                format!("{len} is shorter than the training length seq_len = {}", self.seq_len),
            ));
        }
        if let Some(seeded) = &self.seeded_kv_pairs {
            if let Some(p) = seeded.iter().find(|p| !self.kv_pairs.contains(p)) {
                return Err(check.err("mqar.seeded_kv_pairs", format!("{p} is not one of mqar.kv_pairs")));
            }
        }
        if self.d_models.contains(&0) || self.d_model == Some(0) || self.head_dim == Some(0) {
            return Err(check.err("mqar.d_models", "widths must be positive"));
        }
        Ok(())
    }

    fn cells(&self, suite: &Suite, out: &mut Cells) -> Result<(), UserError> {
        let base = Settings {
            seq_len: Some(self.seq_len),
            vocab: Some(self.vocab),
            train_examples: Some(self.train_examples),
            test_examples: Some(self.test_examples),
            layout: self.layout.clone(),
            ..self.training("mqar").settings()
        };
        let most = self.kv_pairs.iter().copied().max();
        let seeded = |p: usize| self.seeded_kv_pairs.as_ref().is_none_or(|s| s.contains(&p));
        for (m, ratio) in suite.with_ratios(&self.models, self.size.as_deref())? {
            let at_pairs = widened(&m, self.d_model.unwrap_or(m.d_model), self.head_dim, "mqar.d_model")?;
            for &p in self.kv_pairs.iter().filter(|&&p| !ratio || Some(p) == most) {
                let settings = match seeded(p) {
                    true => base.clone(),
                    false => Settings { seeds: None, sweep_seeds: None, ..base.clone() },
                };
                out.push(Measurement::MqarAccuracy, &at_pairs, m.label(), p, settings, ONE_RUN);
            }
            for &w in self.d_models.iter().filter(|_| !ratio) {
                let seeds = if self.seeded_kv_pairs.is_some() { None } else { self.seeds };
                let sweep_seeds = seeds.and(base.sweep_seeds);
                let settings = Settings { kv_pairs: self.width_kv_pairs, seeds, sweep_seeds, ..base.clone() };
                let wide = widened(&m, w, self.head_dim, "mqar.d_models")?;
                out.push(Measurement::MqarWidth, &wide, m.label(), w, settings, ONE_RUN);
            }
            for &len in self.test_lens.iter().filter(|_| !ratio) {
                let settings = Settings { kv_pairs: self.length_kv_pairs, ..base.clone() };
                out.push(Measurement::MqarLength, &at_pairs, m.label(), len, settings, ONE_RUN);
            }
        }
        Ok(())
    }
}
