//! `[parity]` and `[word_problem]`: state tracking, a group's word problem trained at one length
//! and tested at longer ones (parity is S2's).

use super::supervised::{supervised_section, ONE_RUN};
use super::{Cells, Check, Section, Suite};
use crate::error::UserError;
use crate::model::data::state_tracking::{Group, WordProblemConfig};
use crate::results::{Measurement, Settings};

supervised_section! {
    /// State tracking (parity, word problems): trained at `train_len`, tested at each of `test_lens`.
    pub struct StateTrackingSection {
        /// `s3` (default) or `s5` (`[word_problem]` only; parity is S2).
        pub group: Option<String>,
        pub train_len: usize,
        pub test_lens: Vec<usize>,
    }
}

/// A state-tracking section under its name in the suite file: `parity` or `word_problem`.
pub(super) struct StateTracking<'a> {
    pub name: &'static str,
    pub section: &'a StateTrackingSection,
}

impl StateTracking<'_> {
    fn is_parity(&self) -> bool {
        self.name == "parity"
    }

    fn group(&self, check: &Check) -> Result<Group, UserError> {
        match (&self.section.group, self.is_parity()) {
            (Some(_), true) => {
                Err(check.err("parity.group", "parity is the word problem of S2; use [word_problem] for other groups"))
            }
            (Some(g), false) => Group::parse(g).map_err(|m| check.err("word_problem.group", m)),
            (None, true) => Ok(Group::PARITY),
            (None, false) => Ok(Group(3)),
        }
    }
}

impl Section for StateTracking<'_> {
    fn validate(&self, check: &Check) -> Result<(), UserError> {
        let t = self.section;
        check.nonempty_positive(&format!("{}.test_lens", self.name), &t.test_lens)?;
        t.training(self.name).validate(check)?;
        let group = self.group(check)?;
        for &len in &t.test_lens {
            let cfg = WordProblemConfig {
                group,
                train_len: t.train_len,
                test_len: len,
                train_examples: t.train_examples,
                test_examples: t.test_examples,
                seed: 0,
            };
            cfg.validate().map_err(|e| check.nested(self.name, e))?;
        }
        Ok(())
    }

    fn cells(&self, suite: &Suite, out: &mut Cells) -> Result<(), UserError> {
        let t = self.section;
        let measurement = if self.is_parity() { Measurement::ParityAccuracy } else { Measurement::WordProblemAccuracy };
        for m in suite.models_sized(&t.models, t.size.as_deref())? {
            for &len in &t.test_lens {
                let settings = Settings {
                    group: (!self.is_parity()).then(|| t.group.clone().unwrap_or_else(|| "s3".into())),
                    train_len: Some(t.train_len),
                    train_examples: Some(t.train_examples),
                    test_examples: Some(t.test_examples),
                    ..t.training(self.name).settings()
                };
                out.push(measurement, &m, m.label(), len, settings, ONE_RUN);
            }
        }
        Ok(())
    }
}
