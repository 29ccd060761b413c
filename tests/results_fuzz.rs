//! Hand-edited results files never crash `plot` or `crossings`: every value of a real job
//! file and of a real single-run file is removed, nulled, retyped, emptied or pushed to an
//! extreme, one at a time, and both commands must return (an error is fine), never panic.

mod common;

use blockspin::cli::plot::{CrossingsArgs, PlotArgs, crossings_cmd, plot};
use common::{blockspin, s, temp_dir};
use serde_json::Value;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// Every mutation of `v`: for each node, the document with that node replaced (or removed).
fn mutations(v: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut paths = Vec::new();
    collect(v, &mut Vec::new(), &mut paths);
    for path in &paths {
        for replacement in [
            None,
            Some(Value::Null),
            Some(Value::from("x")),
            Some(Value::from(-1)),
            Some(Value::from(1e308)),
            Some(Value::from(0)),
            Some(Value::Array(vec![])),
            Some(serde_json::json!({})),
        ] {
            let mut doc = v.clone();
            if replace(&mut doc, path, replacement) {
                out.push(doc);
            }
        }
    }
    out
}

#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn collect(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    // long series are sampled: their first and last entries stand for the rest
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                at.push(Step::Key(k.clone()));
                out.push(at.clone());
                collect(x, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            let n = a.len();
            for i in [0, 1, n.saturating_sub(1)] {
                if i < n {
                    at.push(Step::Index(i));
                    out.push(at.clone());
                    collect(&a[i], at, out);
                    at.pop();
                }
            }
        }
        _ => {}
    }
}

fn replace(doc: &mut Value, path: &[Step], with: Option<Value>) -> bool {
    let (last, parents) = path.split_last().unwrap();
    let mut node = doc;
    for step in parents {
        node = match step {
            Step::Key(k) => &mut node[k.as_str()],
            Step::Index(i) => &mut node[*i],
        };
    }
    match (last, node, with) {
        (Step::Key(k), Value::Object(m), None) => m.remove(k).is_some(),
        (Step::Key(k), Value::Object(m), Some(w)) => m.insert(k.clone(), w).is_some(),
        (Step::Index(i), Value::Array(a), None) => {
            a.remove(*i);
            true
        }
        (Step::Index(i), Value::Array(a), Some(w)) => {
            a[*i] = w;
            true
        }
        _ => false,
    }
}

fn survive(path: &Path, png: &Path, draw: bool) {
    let results = path.to_path_buf();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = crossings_cmd(&CrossingsArgs {
            results: results.clone(),
        });
        if draw {
            let _ = plot(&PlotArgs {
                results: results.clone(),
                output: png.to_path_buf(),
                width: 400,
                height: 300,
            });
        }
    }));
    assert!(
        r.is_ok(),
        "a mutated results file made plot/crossings panic:\n{}",
        std::fs::read_to_string(path).unwrap()
    );
}

#[test]
fn mutated_results_files_never_panic() {
    let d = temp_dir("results-fuzz");
    let job = d.join("job.toml");
    std::fs::write(
        &job,
        "lattice = \"square\"\nsize = [4, 8]\ntemperature = [2.2, 2.4]\nthermalize = 10\nsweeps = 64\nchains = 2\nbackend = \"cpu\"\n",
    )
    .unwrap();
    let (job_json, single_json) = (d.join("job.json"), d.join("single.json"));
    assert!(
        blockspin(&[
            "sample",
            "--job",
            s(&job),
            "--output",
            s(&job_json),
            "--quiet"
        ])
        .status
        .success()
    );
    assert!(
        blockspin(&[
            "sample",
            "--size",
            "4",
            "--beta",
            "0.4",
            "--sweeps",
            "64",
            "--thermalize",
            "10",
            "--chains",
            "2",
            "--backend",
            "cpu",
            "--quiet",
            "--output",
            s(&single_json),
        ])
        .status
        .success()
    );
    let (file, png) = (d.join("mutated.json"), d.join("mutated.png"));
    let mut n = 0;
    for source in [&job_json, &single_json] {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(source).unwrap()).unwrap();
        for m in mutations(&v) {
            std::fs::write(&file, m.to_string()).unwrap();
            survive(&file, &png, true);
            n += 1;
        }
    }
    assert!(n > 500, "only {n} mutations");
    std::fs::remove_dir_all(&d).unwrap();
}
