//! wgpu instance, adapter selection and device creation.
//!
//! Adapter selection honours the ecosystem's environment overrides: `WGPU_BACKEND`
//! (e.g. `vulkan`, `gl`, `metal`, `dx12`) restricts the APIs, `WGPU_ADAPTER_NAME` picks the
//! first adapter whose name contains the given text (case-insensitive). Otherwise the
//! best adapter wins: discrete > integrated > virtual > software (CPU) > other, and
//! Vulkan/Metal/DX12 before GL. The device is created with the adapter's own limits, so
//! large lattices get the largest buffers the hardware allows.

use crate::error::{Error, Result};
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// What `blockspin info` reports about one adapter.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterReport {
    /// Adapter name.
    pub name: String,
    /// Backend API (vulkan, gl, metal, dx12).
    pub api: String,
    /// Device type (discrete-gpu, integrated-gpu, virtual-gpu, cpu, other).
    pub device_type: String,
    /// Driver name and info.
    pub driver: String,
    /// The limits that size lattices and dispatches.
    pub limits: LimitsReport,
    /// Whether this adapter would be picked by `--backend gpu`.
    pub selected: bool,
}

/// The device limits relevant to blockspin.
#[derive(Clone, Debug, Serialize)]
pub struct LimitsReport {
    /// Largest storage buffer binding, bytes.
    pub max_storage_buffer_binding_size: u64,
    /// Largest buffer, bytes.
    pub max_buffer_size: u64,
    /// Workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
    /// Invocations per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Workgroup memory, bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// Alignment of dynamic uniform offsets, bytes.
    pub min_uniform_buffer_offset_alignment: u32,
}

impl From<&wgpu::Limits> for LimitsReport {
    fn from(l: &wgpu::Limits) -> Self {
        LimitsReport {
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_buffer_size: l.max_buffer_size,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            min_uniform_buffer_offset_alignment: l.min_uniform_buffer_offset_alignment,
        }
    }
}

fn api_name(b: wgpu::Backend) -> &'static str {
    match b {
        wgpu::Backend::Vulkan => "vulkan",
        wgpu::Backend::Metal => "metal",
        wgpu::Backend::Dx12 => "dx12",
        wgpu::Backend::Gl => "gl",
        wgpu::Backend::BrowserWebGpu => "webgpu",
        _ => "noop",
    }
}

fn type_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::DiscreteGpu => "discrete-gpu",
        wgpu::DeviceType::IntegratedGpu => "integrated-gpu",
        wgpu::DeviceType::VirtualGpu => "virtual-gpu",
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::Other => "other",
    }
}

fn rank(info: &wgpu::AdapterInfo) -> (u32, u32) {
    let t = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let api = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    (t, api)
}

/// Whether this Linux machine has a device node a hardware GPU driver would use.
fn linux_gpu_nodes() -> bool {
    let named = |dir: &str, prefix: &str| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
    };
    named("/dev/dri", "renderD")
        || named("/dev", "nvidia")
        || std::path::Path::new("/dev/dxg").exists()
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

fn adapters(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
    let mut list: Vec<wgpu::Adapter> = pollster::block_on(instance.enumerate_adapters(backends))
        .into_iter()
        .filter(|a| a.get_info().backend != wgpu::Backend::Noop)
        .collect();
    list.sort_by_key(|a| rank(&a.get_info()));
    list
}

/// Index in `list` of the adapter to use, honouring `WGPU_ADAPTER_NAME`.
fn choose(list: &[wgpu::Adapter]) -> Result<usize> {
    match std::env::var("WGPU_ADAPTER_NAME") {
        Ok(want) if !want.is_empty() => {
            let w = want.to_lowercase();
            list.iter()
                .position(|a| a.get_info().name.to_lowercase().contains(&w))
                .ok_or_else(|| {
                    Error::NoAdapter(format!(" whose name contains WGPU_ADAPTER_NAME={want:?}"))
                })
        }
        _ if list.is_empty() => Err(Error::NoAdapter(match std::env::var("WGPU_BACKEND") {
            Ok(b) => format!(" for WGPU_BACKEND={b:?}"),
            Err(_) => String::new(),
        })),
        _ => Ok(0),
    }
}

/// Every adapter wgpu finds (after `WGPU_BACKEND`), best first, with the one
/// `--backend gpu` would pick marked.
pub fn list_adapters() -> Vec<AdapterReport> {
    let inst = instance();
    let list = adapters(&inst);
    let chosen = choose(&list).ok();
    list.iter()
        .enumerate()
        .map(|(i, a)| {
            let info = a.get_info();
            AdapterReport {
                name: info.name.clone(),
                api: api_name(info.backend).to_string(),
                device_type: type_name(info.device_type).to_string(),
                driver: format!("{} {}", info.driver, info.driver_info)
                    .trim()
                    .to_string(),
                limits: LimitsReport::from(&a.limits()),
                selected: chosen == Some(i),
            }
        })
        .collect()
}

/// An open device with its queue, adapter description and limits.
pub struct GpuContext {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// Adapter name.
    pub adapter_name: String,
    /// Backend API name.
    pub api: String,
    /// Device type name.
    pub device_type: String,
    /// Limits granted (the adapter's own).
    pub limits: wgpu::Limits,
    errors: Arc<Mutex<Vec<String>>>,
}

impl GpuContext {
    /// Opens the selected adapter.
    ///
    /// # Errors
    /// [`Error::NoAdapter`] when no adapter matches; [`Error::Gpu`] when device creation fails.
    pub fn new() -> Result<Arc<Self>> {
        let inst = instance();
        let list = adapters(&inst);
        let i = choose(&list)?;
        let adapter = &list[i];
        let info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("blockspin"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("could not open {}: {e}", info.name)))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        Ok(Arc::new(GpuContext {
            device,
            queue,
            adapter_name: info.name.clone(),
            api: api_name(info.backend).to_string(),
            device_type: type_name(info.device_type).to_string(),
            limits,
            errors,
        }))
    }

    /// One context per process, opened on first use (the samplers of one command share
    /// it). An error is returned again on every call.
    ///
    /// # Errors
    /// As [`GpuContext::new`].
    pub fn shared() -> Result<Arc<Self>> {
        static SHARED: std::sync::OnceLock<std::result::Result<Arc<GpuContext>, String>> =
            std::sync::OnceLock::new();
        match SHARED.get_or_init(|| {
            GpuContext::new().map_err(|e| match e {
                Error::NoAdapter(why) => format!("\0{why}"),
                other => other.to_string(),
            })
        }) {
            Ok(c) => Ok(c.clone()),
            Err(msg) => match msg.strip_prefix('\0') {
                Some(why) => Err(Error::NoAdapter(why.to_string())),
                None => Err(Error::Gpu(msg.clone())),
            },
        }
    }

    /// Whether `--backend auto` runs on the GPU: `Ok` when the adapter wgpu selects is a
    /// hardware GPU (discrete, integrated or virtual), else the reason why not (no adapter,
    /// or only a software one such as lavapipe or llvmpipe, which `--backend gpu` still
    /// uses). Adapters are enumerated once per process; no device is opened. On Linux a
    /// machine without GPU device nodes (`/dev/dri/renderD*`, `/dev/nvidia*`, `/dev/dxg`)
    /// has no hardware GPU, and the answer comes without loading any driver (loading
    /// lavapipe alone costs ~40 ms, a third of a small job), unless `WGPU_BACKEND` or
    /// `WGPU_ADAPTER_NAME` asks for a particular adapter.
    pub fn hardware_verdict() -> std::result::Result<(), String> {
        static VERDICT: std::sync::OnceLock<std::result::Result<(), String>> =
            std::sync::OnceLock::new();
        VERDICT
            .get_or_init(|| {
                let asked = ["WGPU_BACKEND", "WGPU_ADAPTER_NAME"]
                    .iter()
                    .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
                if cfg!(target_os = "linux") && !asked && !linux_gpu_nodes() {
                    return Err(
                        "no hardware GPU (no /dev/dri/renderD*, /dev/nvidia* or /dev/dxg device); backend gpu runs on a software adapter if one is installed"
                            .to_string(),
                    );
                }
                let inst = instance();
                let list = adapters(&inst);
                let info = list[choose(&list).map_err(|e| match e {
                    Error::NoAdapter(why) => format!("no GPU adapter found{why}"),
                    e => e.to_string(),
                })?]
                .get_info();
                if info.device_type == wgpu::DeviceType::Cpu {
                    Err(format!(
                        "only a software GPU adapter was found ({}, {}), which runs only with backend gpu",
                        info.name,
                        api_name(info.backend)
                    ))
                } else {
                    Ok(())
                }
            })
            .clone()
    }

    /// Returns the first error wgpu reported since the last call, if any.
    pub fn take_error(&self) -> Result<()> {
        let mut v = self
            .errors
            .lock()
            .map_err(|_| Error::Gpu("error sink poisoned".into()))?;
        if v.is_empty() {
            Ok(())
        } else {
            let msg = v.join("; ");
            v.clear();
            Err(Error::Gpu(msg))
        }
    }

    /// Blocks until all submitted work is done.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(e.to_string()))?;
        self.take_error()
    }

    /// Compiles a composed shader module, reporting compilation errors as [`Error::Gpu`].
    pub fn shader(&self, src: &crate::shaders::ShaderModuleSource) -> Result<wgpu::ShaderModule> {
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(src.name),
                source: wgpu::ShaderSource::Wgsl(src.source().into()),
            });
        self.take_error()?;
        Ok(module)
    }

    /// Copies `size` bytes of `buffer` (from offset 0) back to the host.
    pub fn read_buffer(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
        self.queue.submit([enc.finish()]);
        self.map_read(&staging, size)
    }

    /// Waits for the queue, maps the first `size` bytes of a `MAP_READ` buffer, copies them
    /// out and unmaps it.
    pub fn map_read(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        buffer.map_async(wgpu::MapMode::Read, ..size, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|e| Error::Gpu(e.to_string()))?
            .map_err(|e| Error::Gpu(e.to_string()))?;
        let view = buffer
            .get_mapped_range(..size)
            .map_err(|e| Error::Gpu(e.to_string()))?;
        let out = view.to_vec();
        drop(view);
        buffer.unmap();
        Ok(out)
    }

    /// Plans a dispatch of `groups` workgroups as (x, y) within
    /// `max_compute_workgroups_per_dimension`.
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] when even a square grid does not fit.
    pub fn grid(&self, groups: u64) -> Result<(u32, u32)> {
        let max = self.limits.max_compute_workgroups_per_dimension as u64;
        let x = groups.clamp(1, max);
        let y = groups.div_ceil(x).max(1);
        if y > max {
            return Err(Error::DeviceLimit(format!(
                "{groups} workgroups exceed max_compute_workgroups_per_dimension² = {max}²"
            )));
        }
        Ok((x as u32, y as u32))
    }
}
