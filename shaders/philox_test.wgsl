// Test kernel: out[i] = philox4x32_10(counters[i], key). Used by tests/philox.rs only.

struct PhiloxTestParams {
    key: vec2<u32>,
    count: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> philox_test: PhiloxTestParams;
@group(0) @binding(1) var<storage, read> counters: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> words: array<vec4<u32>>;

@compute @workgroup_size(64)
fn philox_words(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= philox_test.count) {
        return;
    }
    words[i] = philox4x32_10(counters[i], philox_test.key);
}
