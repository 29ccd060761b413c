// Shared by every kernel family: the linear invocation index of a 2D dispatch of 1D
// workgroups of size `size` (dispatches wider than max_compute_workgroups_per_dimension
// wrap into y; GpuContext::grid on the Rust side).
fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, local: u32, size: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * size + local;
}
