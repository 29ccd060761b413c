//! `blockspin bench` writes its table, JSON and a decodable PNG (no speed is asserted).

use std::process::Command;

#[test]
fn bench_writes_json_and_png() {
    let dir = std::env::temp_dir().join(format!("blockspin-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, png, race_png) = (dir.join("b.json"), dir.join("b.png"), dir.join("race.png"));
    let o = Command::new(env!("CARGO_BIN_EXE_blockspin"))
        .args([
            "bench",
            "--sizes",
            "16,32",
            "--backends",
            "cpu,cpu-fast,cpu-sites,auto",
            "--chains",
            "1,4",
            "--repeats",
            "2",
            "--min-seconds",
            "0.01",
            "--estimator-size",
            "8",
            "--target-error",
            "0.05",
            "--beta",
            "0.3",
            "--quiet",
            "--output",
            json.to_str().unwrap(),
            "--plot",
            png.to_str().unwrap(),
            "--race-sizes",
            "8,16",
            "--race-seconds",
            "0.3",
            "--race-plot",
            race_png.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("cpu-sites/cpu") && stdout.contains("auto/best"),
        "{stdout}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["schema"], "blockspin/bench/1");
    let t = v["throughput"].as_array().unwrap();
    assert_eq!(t.len(), 2 * 2 * 4);
    for r in t {
        let (min, med, max) = (
            r["min"].as_f64().unwrap(),
            r["median"].as_f64().unwrap(),
            r["max"].as_f64().unwrap(),
        );
        assert!(min > 0.0 && min <= med && med <= max, "{r}");
    }
    assert_eq!(v["estimators"].as_array().unwrap().len(), 4);
    // without a hardware GPU the default path is the CPU sites kernel on a square lattice
    if !t
        .iter()
        .any(|r| r["ran"].as_str().unwrap().starts_with("gpu"))
    {
        for r in t.iter().filter(|r| r["backend"] == "auto") {
            assert_eq!(r["ran"], "cpu sites", "{r}");
        }
    }
    // the critical race: every algorithm at every size, a cost, and a fitted z each
    let race = v["race"].as_array().unwrap();
    assert_eq!(race.len(), 2 * 3, "{race:?}");
    for r in race {
        let (e, cost) = (r["error"].as_f64().unwrap(), r["cost"].as_f64().unwrap());
        assert!(
            e > 0.0 && cost > 0.0 && r["tau_int"].as_f64().unwrap() > 0.0,
            "{r}"
        );
    }
    assert!(
        stdout.contains("critical race") && stdout.contains("cheapest"),
        "{stdout}"
    );
    for p in [&png, &race_png] {
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(p).unwrap()));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (900, 600));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
