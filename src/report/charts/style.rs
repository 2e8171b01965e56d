//! How a model is drawn, from what the model is and never from its place in a list (so adding a
//! model file changes no other model's style): the colour is its mixer's (hybrids: their main
//! mixer's), in hues grouped by family (attention warm reds, oranges and pinks; the classic RNNs
//! browns and olive; the linear family blues, greens, purples, teals, greys), the marker says the
//! variant (a circle for the plain model, a triangle for negative eigenvalues, a square for a hybrid
//! with attention layers, a cross for one with gated attention). (Dashes are not a model's: a chart
//! dashes a recurrent form's line or a measured peak beside the exact bytes.)

/// A model's marker shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Marker {
    Circle,
    Square,
    Triangle,
    Cross,
}

/// Colour and marker of one model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Style {
    pub colour: (u8, u8, u8),
    pub marker: Marker,
}

/// Each mixer's colour, by name.
const MIXER_COLOURS: [(&str, (u8, u8, u8)); 18] = [
    // Attention: warm.
    ("attention", (214, 39, 40)),
    ("gated_attention", (255, 127, 14)),
    ("sliding_window_attention", (227, 119, 194)),
    // Classic RNNs: browns and olive.
    ("lstm", (140, 86, 75)),
    ("gru", (188, 189, 34)),
    // The linear family: cool.
    ("linear_attention", (31, 119, 180)),
    ("retnet", (174, 199, 232)),
    ("mamba2", (44, 160, 44)),
    ("gla", (148, 103, 189)),
    ("deltanet", (23, 190, 207)),
    ("gated_deltanet", (0, 0, 128)),
    ("hgrn2", (127, 127, 127)),
    ("mlstm", (197, 176, 213)),
    ("rwkv6", (152, 223, 138)),
    ("rwkv7", (0, 100, 0)),
    ("kda", (106, 61, 154)),
    ("gated_deltaproduct", (0, 128, 128)),
    ("mamba3", (0, 0, 0)),
];

/// Colours for models seqbench does not ship (a user's files, the hybrid-ratio sweep's stacks),
/// chosen by a hash of the name.
const OTHER_COLOURS: [(u8, u8, u8); 6] =
    [(255, 152, 150), (196, 156, 148), (219, 219, 141), (158, 218, 229), (247, 182, 210), (199, 199, 199)];

/// The colour of the mixer named `name` (registry spelling), if it has one.
pub fn mixer_colour(name: &str) -> Option<(u8, u8, u8)> {
    MIXER_COLOURS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// The style of `model` (a shipped name or a model file's name; `@size` is ignored).
pub fn style_of(model: &str) -> Style {
    let name = model.split('@').next().unwrap_or(model);
    match crate::model::config::load(name, "tiny") {
        Ok(c) => {
            let kinds = c.layer_kinds();
            let other = kinds.iter().find(|k| **k != c.mixer);
            let marker = match other {
                Some(k) if k.descriptor().name == "gated_attention" => Marker::Cross,
                Some(_) => Marker::Square,
                None if c.allow_neg_eigval => Marker::Triangle,
                None => Marker::Circle,
            };
            let colour = mixer_colour(c.mixer.descriptor().name).unwrap_or_else(|| hashed(name));
            Style { colour, marker }
        }
        Err(_) => Style { colour: hashed(name), marker: Marker::Circle },
    }
}

fn hashed(name: &str) -> (u8, u8, u8) {
    let h = name.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
    OTHER_COLOURS[h % OTHER_COLOURS.len()]
}

/// Euclidean distance of two colours in RGB.
pub fn distance(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
    let d = |x: u8, y: u8| (x as f64 - y as f64).powi(2);
    (d(a.0, b.0) + d(a.1, b.1) + d(a.2, b.2)).sqrt()
}

/// The smallest RGB distance between two mixers' colours of different families.
pub const FAMILY_DISTANCE: f64 = 60.0;
/// The smallest RGB distance between any two mixers' colours.
pub const MIXER_DISTANCE: f64 = 30.0;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::mixers::{Family, MixerKind};

    /// The family of the mixer named `name`.
    fn family_of(name: &str) -> Option<Family> {
        MixerKind::parse(name).map(|k| k.family())
    }

    #[test]
    fn every_shipped_model_has_its_own_style() {
        let names = crate::model::config::built_in_names();
        let mut seen = std::collections::HashMap::new();
        for n in &names {
            if let Some(other) = seen.insert(style_of(n), *n) {
                panic!("{n} and {other} are drawn alike: {:?}", style_of(n));
            }
        }
        assert_eq!(seen.len(), names.len());
    }

    #[test]
    fn every_mixer_has_a_colour_and_families_stay_apart() {
        for k in MixerKind::all() {
            assert!(mixer_colour(k.descriptor().name).is_some(), "{} has no colour", k.descriptor().name);
        }
        for (i, (a, ca)) in MIXER_COLOURS.iter().enumerate() {
            for (b, cb) in &MIXER_COLOURS[i + 1..] {
                let d = distance(*ca, *cb);
                assert!(d >= MIXER_DISTANCE, "{a} and {b}: {d:.0}");
                if family_of(a) != family_of(b) {
                    assert!(d >= FAMILY_DISTANCE, "{a} and {b} are of different families but {d:.0} apart");
                }
            }
        }
    }

    #[test]
    fn a_new_model_file_changes_no_other_style() {
        // Styles depend on the model alone: computing them with an unknown model in between, or in
        // another order, gives the same styles.
        let names = crate::model::config::built_in_names();
        let before: Vec<Style> = names.iter().map(|n| style_of(n)).collect();
        let _ = style_of("a-model-file-added-later");
        let after: Vec<Style> = names.iter().rev().map(|n| style_of(n)).collect();
        assert!(before.iter().eq(after.iter().rev()));
        assert_eq!(style_of("attention@small"), style_of("attention"));
    }
}
