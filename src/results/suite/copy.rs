//! `[copy]`: the copy task, test accuracy against the length of the string.

use super::supervised::{supervised_section, widened, ONE_RUN};
use super::{Cells, Check, Section, Suite};
use crate::error::UserError;
use crate::model::data::copy::CopyConfig;
use crate::results::{Measurement, Settings};

supervised_section! {
    /// The copy task: accuracy against the length of the string.
    pub struct CopySection {
        pub alphabet: usize,
        pub lengths: Vec<usize>,
        /// Width and head width of every model in this section (default: the size preset's).
        pub d_model: Option<usize>,
        pub head_dim: Option<usize>,
    }
}

impl Section for CopySection {
    fn validate(&self, check: &Check) -> Result<(), UserError> {
        check.nonempty_positive("copy.lengths", &self.lengths)?;
        if self.d_model == Some(0) || self.head_dim == Some(0) {
            return Err(check.err("copy.d_model", "widths must be positive"));
        }
        self.training("copy").validate(check)?;
        let cfg = CopyConfig {
            alphabet: self.alphabet,
            length: 1,
            train_examples: self.train_examples,
            test_examples: self.test_examples,
            seed: 0,
        };
        cfg.validate().map_err(|e| check.nested("copy", e))
    }

    fn cells(&self, suite: &Suite, out: &mut Cells) -> Result<(), UserError> {
        for m in suite.models_sized(&self.models, self.size.as_deref())? {
            let m = widened(&m, self.d_model.unwrap_or(m.d_model), self.head_dim, "copy.d_model")?;
            for &len in &self.lengths {
                let settings = Settings {
                    vocab: Some(self.alphabet),
                    train_examples: Some(self.train_examples),
                    test_examples: Some(self.test_examples),
                    ..self.training("copy").settings()
                };
                out.push(Measurement::CopyAccuracy, &m, m.label(), len, settings, ONE_RUN);
            }
        }
        Ok(())
    }
}
