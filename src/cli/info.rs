//! `blockspin info`: the adapters wgpu finds (after `WGPU_BACKEND`), best first.

use crate::backend::gpu::list_adapters;
use crate::error::Result;
use serde_json::json;

/// Arguments of `blockspin info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Prints the adapters.
///
/// # Errors
/// None at present (an empty list is not an error).
pub fn run(args: &InfoArgs) -> Result<()> {
    let adapters = list_adapters();
    let threads = rayon::current_num_threads();
    let simd = crate::backend::sites::Simd::detect().name();
    // what --backend auto runs on, and why
    let auto = match crate::backend::gpu::GpuContext::hardware_verdict() {
        Ok(()) => ("gpu", "a hardware GPU adapter is selected".to_string()),
        Err(why) => ("cpu", why),
    };
    if args.json {
        let v = json!({
            "schema": "blockspin/info/1",
            "version": env!("CARGO_PKG_VERSION"),
            "adapters": adapters,
            "cpu": { "threads": threads, "packed_kernels": simd },
            "auto": { "device": auto.0, "reason": auto.1 },
        });
        say!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    if adapters.is_empty() {
        say!(
            "no GPU adapter found (WGPU_BACKEND={})",
            std::env::var("WGPU_BACKEND").unwrap_or_else(|_| "unset".into())
        );
        say!(
            "on Debian/Ubuntu, `apt-get install mesa-vulkan-drivers libvulkan1` gives a software Vulkan adapter"
        );
    }
    for a in &adapters {
        let mark = if a.selected { "*" } else { " " };
        say!(
            "{mark} {} [{} / {}] {}",
            a.name,
            a.api,
            a.device_type,
            a.driver
        );
        let l = &a.limits;
        say!(
            "    max_storage_buffer_binding_size {} MiB, max_buffer_size {} MiB, workgroups/dim {}, invocations/workgroup {}, workgroup memory {} KiB, uniform offset alignment {}",
            l.max_storage_buffer_binding_size >> 20,
            l.max_buffer_size >> 20,
            l.max_compute_workgroups_per_dimension,
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroup_storage_size >> 10,
            l.min_uniform_buffer_offset_alignment
        );
    }
    if !adapters.is_empty() {
        say!(
            "(* = used by --backend gpu, and by --backend auto unless it is a software (cpu) adapter; override with WGPU_BACKEND or WGPU_ADAPTER_NAME)"
        );
    }
    say!("cpu backend: {threads} threads; packed kernels: {simd}");
    say!("--backend auto runs on: {} ({})", auto.0, auto.1);
    Ok(())
}
