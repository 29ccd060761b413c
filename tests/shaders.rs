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
