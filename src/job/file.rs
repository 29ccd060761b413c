//! Job files: a grid of sampling runs in TOML.
//!
//! Keys are the `blockspin sample` flag names in kebab-case. `temperature` (or `beta`),
//! `size`, `field` and `coupling` may be a number, a list, or a range
//! `{ start, stop, step }` / `{ start, stop, count }` (inclusive of `stop`); the grid is their
//! Cartesian product. A flag given on the command line overrides the file's value (a grid
//! key then becomes a single value).
//!
//! ```toml
//! lattice = "square"
//! size = [8, 16, 32]
//! temperature = { start = 2.0, stop = 2.5, count = 11 }
//! sweeps = 20000
//! chains = 32
//! seed = 7
//! ```
//!
//! Each grid point gets its own seed, a Philox hash of the job seed and the point's
//! parameter values (not its position), so any point can be rerun alone with
//! `blockspin sample ... --seed <its seed>`.

use crate::error::{Error, Result};
use crate::rng::{philox4x32_10, seed_key};
use serde::Serialize;
use std::collections::BTreeMap;

/// Keys a job file may hold.
pub const KEYS: &[&str] = &[
    "lattice",
    "size",
    "units",
    "beta",
    "temperature",
    "coupling",
    "field",
    "algorithm",
    "thermalize",
    "thermalize-cap",
    "sweeps",
    "measure-every",
    "chains",
    "seed",
    "start",
    "backend",
    "kernel",
    "output",
    "summary",
];

/// One key of a job file with its line.
#[derive(Clone, Debug)]
pub struct Entry {
    /// 1-based line of the key.
    pub line: usize,
    /// The value.
    pub value: toml::Value,
}

/// A parsed job file: key → entry.
#[derive(Clone, Debug, Default)]
pub struct JobFile {
    /// The file name (for messages).
    pub name: String,
    /// Entries by key.
    pub entries: BTreeMap<String, Entry>,
}

fn err(name: &str, line: Option<usize>, key: &str, message: impl std::fmt::Display) -> Error {
    let at = line.map(|l| format!(" line {l}")).unwrap_or_default();
    Error::invalid("job", format!("{name}{at}: `{key}` {message}"))
}

impl JobFile {
    /// Parses a job file: TOML syntax, known keys only, one of `beta`/`temperature`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`--job`) naming the key and line.
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let table: BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>> =
            toml::from_str(text).map_err(|e| {
                Error::invalid(
                    "job",
                    format!("{name}: {}", e.to_string().trim().replace('\n', " ")),
                )
            })?;
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let mut entries = BTreeMap::new();
        for (k, v) in table {
            let line = line_of(k.span().start);
            let key = k.into_inner();
            if !KEYS.contains(&key.as_str()) {
                return Err(err(
                    name,
                    Some(line),
                    &key,
                    format!("is not a job key (allowed: {})", KEYS.join(", ")),
                ));
            }
            entries.insert(
                key,
                Entry {
                    line,
                    value: v.into_inner(),
                },
            );
        }
        if let (Some(b), Some(_)) = (entries.get("beta"), entries.get("temperature")) {
            return Err(err(
                name,
                Some(b.line),
                "beta",
                "and `temperature` are both given; give one",
            ));
        }
        Ok(JobFile {
            name: name.into(),
            entries,
        })
    }

    /// A string-valued key (enums, paths).
    pub fn string(&self, key: &str) -> Result<Option<String>> {
        match self.entries.get(key) {
            None => Ok(None),
            Some(Entry {
                value: toml::Value::String(s),
                ..
            }) => Ok(Some(s.clone())),
            Some(e) => Err(err(&self.name, Some(e.line), key, "must be a string")),
        }
    }

    /// A non-negative integer key.
    pub fn integer(&self, key: &str) -> Result<Option<u64>> {
        match self.entries.get(key) {
            None => Ok(None),
            Some(Entry {
                value: toml::Value::Integer(i),
                ..
            }) if *i >= 0 => Ok(Some(*i as u64)),
            Some(e) => Err(err(
                &self.name,
                Some(e.line),
                key,
                "must be a non-negative integer",
            )),
        }
    }

    /// A grid axis of floats.
    pub fn float_axis(&self, key: &str) -> Result<Option<Vec<f64>>> {
        self.axis(key, false)
    }

    /// A grid axis of non-negative integers.
    pub fn integer_axis(&self, key: &str) -> Result<Option<Vec<u32>>> {
        match self.axis(key, true)? {
            None => Ok(None),
            Some(v) => {
                let line = self.entries.get(key).map(|e| e.line);
                v.into_iter()
                    .map(|x| {
                        if x >= 0.0 && x <= u32::MAX as f64 && x.fract() == 0.0 {
                            Ok(x as u32)
                        } else {
                            Err(err(
                                &self.name,
                                line,
                                key,
                                format!("values must be non-negative integers (got {x})"),
                            ))
                        }
                    })
                    .collect::<Result<Vec<_>>>()
                    .map(Some)
            }
        }
    }

    fn axis(&self, key: &str, integer: bool) -> Result<Option<Vec<f64>>> {
        let Some(e) = self.entries.get(key) else {
            return Ok(None);
        };
        let bad = |m: String| err(&self.name, Some(e.line), key, m);
        let number = |v: &toml::Value| -> Result<f64> {
            match v {
                toml::Value::Integer(i) => Ok(*i as f64),
                toml::Value::Float(f) if !integer && f.is_finite() => Ok(*f),
                _ => Err(bad(format!(
                    "must be {}, a list of them, or a range table",
                    if integer {
                        "an integer"
                    } else {
                        "a finite number"
                    }
                ))),
            }
        };
        let values: Vec<f64> = match &e.value {
            toml::Value::Array(a) => a.iter().map(number).collect::<Result<_>>()?,
            toml::Value::Table(t) => {
                for k in t.keys() {
                    if !["start", "stop", "step", "count"].contains(&k.as_str()) {
                        return Err(bad(format!(
                            "range has an unknown key `{k}` (use start, stop and step or count)"
                        )));
                    }
                }
                let get = |k: &str| t.get(k).map(number).transpose();
                let (start, stop) = match (get("start")?, get("stop")?) {
                    (Some(a), Some(b)) => (a, b),
                    _ => return Err(bad("range needs `start` and `stop`".into())),
                };
                match (get("step")?, t.get("count")) {
                    (Some(_), Some(_)) => {
                        return Err(bad("range takes `step` or `count`, not both".into()));
                    }
                    (Some(step), None) => {
                        if step == 0.0 {
                            return Err(bad("range step must not be 0".into()));
                        }
                        if (stop - start) * step < 0.0 {
                            return Err(bad(format!(
                                "range step {step} goes away from stop {stop}"
                            )));
                        }
                        let n = ((stop - start) / step + 1e-9).floor() as usize + 1;
                        if n > 100_000 {
                            return Err(bad(format!("range has {n} values (at most 100000)")));
                        }
                        (0..n).map(|i| start + step * i as f64).collect()
                    }
                    (None, Some(toml::Value::Integer(c))) if *c >= 1 && *c <= 100_000 => {
                        let c = *c as usize;
                        if c == 1 && start != stop {
                            return Err(bad("range with count = 1 needs start = stop".into()));
                        }
                        (0..c)
                            .map(|i| {
                                if c == 1 {
                                    start
                                } else {
                                    start + (stop - start) * i as f64 / (c - 1) as f64
                                }
                            })
                            .collect()
                    }
                    (None, Some(_)) => {
                        return Err(bad("range count must be an integer from 1 to 100000".into()));
                    }
                    (None, None) => return Err(bad("range needs `step` or `count`".into())),
                }
            }
            other => vec![number(other)?],
        };
        if values.is_empty() {
            return Err(bad("is an empty list: the grid would be empty".into()));
        }
        Ok(Some(values))
    }
}

/// The seed of a grid point: a Philox hash of the job seed and the point's values.
pub fn point_seed(job_seed: u64, size: u32, beta: f64, coupling: f64, field: f64) -> u64 {
    let key = seed_key(job_seed);
    let w = |x: f64| -> [u32; 2] {
        let b = x.to_bits();
        [b as u32, (b >> 32) as u32]
    };
    let (b, c, f) = (w(beta), w(coupling), w(field));
    let h1 = philox4x32_10([size, b[0], b[1], 0x4A4F_4231], key);
    let h2 = philox4x32_10(
        [h1[0] ^ c[0], h1[1] ^ c[1], h1[2] ^ f[0], h1[3] ^ f[1]],
        key,
    );
    h2[0] as u64 | (h2[1] as u64) << 32
}

/// One grid point's varying values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct GridPoint {
    /// L.
    pub size: u32,
    /// β.
    pub beta: f64,
    /// J.
    pub coupling: f64,
    /// h.
    pub field: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_and_errors() {
        let f = JobFile::parse(
            "j.toml",
            "size = [8, 16]\ntemperature = { start = 2.0, stop = 2.5, step = 0.25 }\nfield = 0.1\n",
        )
        .unwrap();
        assert_eq!(f.integer_axis("size").unwrap().unwrap(), vec![8, 16]);
        assert_eq!(
            f.float_axis("temperature").unwrap().unwrap(),
            vec![2.0, 2.25, 2.5]
        );
        assert_eq!(f.float_axis("field").unwrap().unwrap(), vec![0.1]);
        let g = JobFile::parse(
            "j.toml",
            "temperature = { start = 1.0, stop = 2.0, count = 3 }",
        )
        .unwrap();
        assert_eq!(
            g.float_axis("temperature").unwrap().unwrap(),
            vec![1.0, 1.5, 2.0]
        );
        for (text, needle) in [
            ("sizes = 3", "line 1: `sizes` is not a job key"),
            (
                "size = 8\n\nbeta = 0.4\ntemperature = 2.0",
                "`beta` and `temperature`",
            ),
            (
                "temperature = { start = 2.0, stop = 2.5, step = 0 }",
                "step must not be 0",
            ),
            (
                "temperature = { start = 2.0, stop = 2.5, step = -0.1 }",
                "goes away",
            ),
            ("size = []", "empty"),
            ("size = [8.5]", "integer"),
            ("temperature = { start = 2.0 }", "`stop`"),
            ("temperature = \"hot\"", "number"),
            ("size = = 3", "j.toml"),
        ] {
            let e = JobFile::parse("j.toml", text).and_then(|f| {
                f.integer_axis("size")?;
                f.float_axis("temperature")?;
                Ok(())
            });
            let msg = e.unwrap_err().to_string();
            assert!(msg.contains(needle), "{text:?}: {msg}");
            assert!(!msg.contains('\n'));
        }
    }

    #[test]
    fn seeds_depend_on_values_not_order() {
        let a = point_seed(7, 16, 0.44, 1.0, 0.0);
        assert_eq!(a, point_seed(7, 16, 0.44, 1.0, 0.0));
        assert_ne!(a, point_seed(7, 16, 0.45, 1.0, 0.0));
        assert_ne!(a, point_seed(8, 16, 0.44, 1.0, 0.0));
        assert_ne!(a, point_seed(7, 32, 0.44, 1.0, 0.0));
    }
}
