//! Every WGSL module the program builds parses and validates with naga, and every file in
//! shaders/ belongs to one of them.

use blockspin::shaders::ALL;

#[test]
fn every_module_validates() {
    for m in ALL {
        let module = naga::front::wgsl::parse_str(&m.source())
            .unwrap_or_else(|e| panic!("{}: {}", m.name, e.emit_to_string(&m.source())));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {e:?}", m.name));
    }
}

#[test]
fn every_shader_file_is_in_a_module() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("wgsl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            ALL.iter().any(|m| m.parts.contains(&text.as_str())),
            "{} is not part of any module in shaders::ALL, so it is never validated",
            path.display()
        );
    }
}

/// Every `PURPOSE_*` constant of every module equals the Rust purpose of that name
/// (`rng::Purpose`, the one list), and no two purposes share a code.
#[test]
fn purpose_codes_match_the_rust_list() {
    use blockspin::rng::Purpose;
    let mut seen = 0;
    for m in ALL {
        let module = naga::front::wgsl::parse_str(&m.source()).unwrap();
        for (_, c) in module.constants.iter() {
            let Some(name) = c.name.as_deref().filter(|n| n.starts_with("PURPOSE_")) else {
                continue;
            };
            let value = match module.global_expressions[c.init] {
                naga::Expression::Literal(naga::Literal::U32(v)) => v,
                ref e => panic!("{}: {name} is not a u32 literal: {e:?}", m.name),
            };
            let rust = Purpose::ALL
                .iter()
                .find(|p| p.wgsl_name() == name)
                .unwrap_or_else(|| panic!("{}: {name} is not in rng::Purpose", m.name));
            assert_eq!(value, *rust as u32, "{}: {name}", m.name);
            seen += 1;
        }
    }
    assert!(seen >= 10, "only {seen} purpose constants found");
    let mut codes: Vec<u32> = Purpose::ALL.iter().map(|&p| p as u32).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), Purpose::ALL.len(), "two purposes share a code");
}
