//! A study over many seeds: every figure of the per-seed `summary.json`
//! files, with its median and range.
//!
//! One seed's figures can mislead (a network that converged badly by
//! chance, or unusually well), so `fog sim SCENARIO --seeds N` runs seeds
//! `S .. S+N` and reports each number of the summaries — the headline
//! figures, per row of their arrays — as median, minimum and maximum over
//! the seeds. The scenario's parameters (its `params` object, the seed
//! included) are left out: they are inputs, the same on every run but the
//! seed.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::report::{fmt_num, format_table};
use super::scenario::quantile;

/// One figure over the seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// Where it sits in `summary.json`: object keys joined by `.`, array
    /// rows as `[i]` (for example `rings[3].median`).
    pub path: String,
    /// Its value on each seed, in seed order. A `true`/`false` counts as
    /// 1/0, so its median says what most seeds gave.
    pub values: Vec<f64>,
}

impl Figure {
    /// The median over the seeds (nearest rank, so it is one of the
    /// values; the lower middle one for an even count).
    pub fn median(&self) -> f64 {
        quantile(&self.sorted(), 0.5)
    }

    /// The smallest value.
    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    /// The largest value.
    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }

    /// Whether every seed gave the same value.
    pub fn constant(&self) -> bool {
        self.values.windows(2).all(|w| w[0] == w[1])
    }

    fn sorted(&self) -> Vec<f64> {
        let mut sorted = self.values.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
    }
}

/// The figures of several seeds' summaries, in path order. A figure
/// missing from some summaries (an array shorter on one seed) is left out
/// and counted in the second value.
pub fn figures(summaries: &[Value]) -> (Vec<Figure>, usize) {
    let mut by_path: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for summary in summaries {
        let mut leaves = Vec::new();
        if let Value::Object(map) = summary {
            for (key, value) in map {
                if key != "params" {
                    flatten(key.clone(), value, &mut leaves);
                }
            }
        }
        for (path, value) in leaves {
            by_path.entry(path).or_default().push(value);
        }
    }
    let total = by_path.len();
    let figures: Vec<Figure> = by_path
        .into_iter()
        .filter(|(_, values)| values.len() == summaries.len())
        .map(|(path, values)| Figure { path, values })
        .collect();
    let missing = total - figures.len();
    (figures, missing)
}

/// Every number (and boolean) under `value`, with its path.
fn flatten(path: String, value: &Value, out: &mut Vec<(String, f64)>) {
    match value {
        Value::Number(n) => {
            if let Some(v) = n.as_f64() {
                out.push((path, v));
            }
        }
        Value::Bool(b) => out.push((path, f64::from(u8::from(*b)))),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(format!("{path}[{i}]"), item, out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                flatten(format!("{path}.{key}"), item, out);
            }
        }
        Value::Null | Value::String(_) => {}
    }
}

/// `seeds.json`: the scenario, the seeds, and every figure's median, range
/// and per-seed values.
pub fn summary(scenario: &str, seeds: &[u64], figures: &[Figure]) -> Value {
    let figures: serde_json::Map<String, Value> = figures
        .iter()
        .map(|f| {
            (
                f.path.clone(),
                json!({
                    "median": f.median(),
                    "min": f.min(),
                    "max": f.max(),
                    "values": f.values,
                }),
            )
        })
        .collect();
    json!({ "scenario": scenario, "seeds": seeds, "figures": figures })
}

/// The printed table: the figures that differ between seeds, with median
/// and range, then how many were the same on every seed.
pub fn printed(figures: &[Figure]) -> String {
    let rows: Vec<Vec<String>> = figures
        .iter()
        .filter(|f| !f.constant())
        .map(|f| {
            vec![
                f.path.clone(),
                fmt_num(f.median()),
                fmt_num(f.min()),
                fmt_num(f.max()),
            ]
        })
        .collect();
    let same = figures.len() - rows.len();
    let mut text = format_table(&["figure", "median", "min", "max"], &rows);
    if same > 0 {
        text.push_str(&format!(
            "{same} more figures were the same on every seed (seeds.json lists them all)\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_number_outside_params_is_a_figure_with_its_median_and_range() {
        let summaries = [
            json!({"params": {"seed": 1}, "success": 0.9, "ok": true,
                   "rows": [{"hops": 3}, {"hops": 5}], "name": "x"}),
            json!({"params": {"seed": 2}, "success": 0.5, "ok": false,
                   "rows": [{"hops": 4}, {"hops": 5}], "name": "x"}),
            json!({"params": {"seed": 3}, "success": 0.7, "ok": true,
                   "rows": [{"hops": 9}], "name": "x"}),
        ];
        let (figures, missing) = figures(&summaries);
        let paths: Vec<&str> = figures.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["ok", "rows[0].hops", "success"]);
        assert_eq!(missing, 1, "rows[1] is missing on seed 3");
        let success = &figures[2];
        assert_eq!(success.values, [0.9, 0.5, 0.7]);
        assert_eq!(
            (success.median(), success.min(), success.max()),
            (0.7, 0.5, 0.9)
        );
        assert_eq!(figures[0].median(), 1.0, "most seeds said true");
        assert_eq!(figures[1].values, [3.0, 4.0, 9.0]);
    }

    #[test]
    fn the_printed_table_lists_what_varies_and_counts_the_rest() {
        let figures = vec![
            Figure {
                path: "a".into(),
                values: vec![1.0, 1.0],
            },
            Figure {
                path: "b".into(),
                values: vec![2.0, 4.0],
            },
        ];
        let text = printed(&figures);
        assert!(text.contains("b            2    2    4"), "{text}");
        assert!(!text.lines().any(|l| l.starts_with("a ")), "{text}");
        assert!(text.contains("1 more figures were the same"), "{text}");
        let json = summary("x", &[1, 2], &figures);
        assert_eq!(json["figures"]["b"]["max"], 4.0);
        assert_eq!(json["seeds"], json!([1, 2]));
    }
}
