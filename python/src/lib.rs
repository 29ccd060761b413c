//! `blockspin._blockspin`: the compiled half of the `blockspin` Python package.
//!
//! Every entry point takes the command line's arguments (`argv`, built from keyword
//! arguments by the Python half) and parses them with the command line's own definitions
//! (`blockspin::cli`), so names, defaults and validation are those of the CLI; it then
//! calls the same library functions the CLI calls and returns the typed results as the
//! bytes the CLI writes (JSON) plus numpy arrays. Long work runs on a worker thread with
//! the GIL released while this thread answers Ctrl-C (`KeyboardInterrupt`, through the
//! library's stop request) and forwards progress to a Python callback.

use blockspin::Error;
use blockspin::backend::{self, Sampler};
use blockspin::cli::{Cli, Command};
use blockspin::io::NpyBytes;
use blockspin::job::runner::{self, Hooks, Outcome};
use blockspin::job::{self, JobResults, RunConfig, RunResults, SampleResults, memory};
use blockspin::observables::Series;
use blockspin::provenance::Provenance;
use blockspin::{interrupt, io};
use clap::Parser;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- errors

/// The Python exception for a library error: `InvalidParameterError` (a `ValueError`)
/// naming the parameter in snake_case, `DeviceLimitError` (a `ValueError`), `NoAdapterError`
/// and `GpuError` (`DeviceError`), `IoError` (an `OSError`), `InternalError`, and
/// `KeyboardInterrupt` for a stop request; all but the last are `blockspin.Error`s.
fn py_error(py: Python<'_>, e: Error) -> PyErr {
    let (class, args): (&str, Vec<String>) = match &e {
        Error::InvalidParameter { param, message } => {
            let name = param.replace('-', "_");
            (
                "InvalidParameterError",
                vec![format!("{name}: {message}"), name],
            )
        }
        Error::DeviceLimit(_) => ("DeviceLimitError", vec![e.to_string()]),
        Error::NoAdapter(_) => ("NoAdapterError", vec![e.to_string()]),
        Error::Gpu(_) => ("GpuError", vec![e.to_string()]),
        Error::Io { .. } => ("IoError", vec![e.to_string()]),
        Error::Interrupted { .. } => {
            return pyo3::exceptions::PyKeyboardInterrupt::new_err(e.to_string());
        }
        _ => ("InternalError", vec![e.to_string()]),
    };
    let raised = py
        .import("blockspin._errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1(PyTuple::new(py, &args)?));
    match raised {
        Ok(v) => PyErr::from_value(v),
        Err(err) => err,
    }
}

/// A clap error (a value of the wrong type or out of a list, a missing or conflicting
/// argument) as `InvalidParameterError` naming the argument.
fn clap_error(py: Python<'_>, e: clap::Error) -> PyErr {
    use clap::error::{ContextKind, ContextValue};
    let text = e.render().to_string();
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    let name = arg
        .as_deref()
        .map(|a| {
            a.trim_start_matches('-')
                .split([' ', '=', '<'])
                .next()
                .unwrap_or("")
                .replace('-', "_")
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "arguments".into());
    // the flags as keyword arguments: `--measure-every <MEASURE_EVERY>` → `measure_every`
    let line = match &arg {
        Some(a) => line.replace(&format!("'{a}'"), &format!("'{name}'")),
        None => line,
    };
    let raised = py
        .import("blockspin._errors")
        .and_then(|m| m.getattr("InvalidParameterError"))
        .and_then(|c| c.call1((format!("{name}: {line}"), name)));
    match raised {
        Ok(v) => PyErr::from_value(v),
        Err(err) => err,
    }
}

/// Parses `blockspin <argv…>` with the command line's definitions.
fn parse(py: Python<'_>, argv: Vec<String>) -> PyResult<Command> {
    let args = std::iter::once("blockspin".to_string()).chain(argv);
    Cli::try_parse_from(args)
        .map(|c| c.command)
        .map_err(|e| clap_error(py, e))
}

fn internal(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!(
        "blockspin internal error: {what} (please report this)"
    ))
}

// ---------------------------------------------------------------- progress and Ctrl-C

/// What the worker thread tells the calling thread.
enum Event {
    Notice(String),
    Progress { what: String, done: u64, total: u64 },
    Done,
}

/// Where the progress of library tasks ([`interrupt::Task`]) goes: the call in progress.
static CURRENT: Mutex<Option<(Sender<Event>, String, u64)>> = Mutex::new(None);

fn current() -> MutexGuard<'static, Option<(Sender<Event>, String, u64)>> {
    CURRENT.lock().unwrap_or_else(|p| p.into_inner())
}

/// The library's progress sink: forwards to the call in progress.
struct Forward;

impl interrupt::Sink for Forward {
    fn start(&self, what: &str, total: u64) {
        if let Some((_, w, t)) = current().as_mut() {
            *w = what.to_string();
            *t = total;
        }
    }

    fn position(&self, done: u64) {
        if let Some((tx, what, total)) = current().as_ref() {
            let _ = tx.send(Event::Progress {
                what: what.clone(),
                done,
                total: *total,
            });
        }
    }

    fn finish(&self) {}
}

/// The worker's side of a call: notices and progress for the calling thread.
struct Reporter {
    tx: Sender<Event>,
}

impl Reporter {
    fn notice(&self, m: &str) {
        let _ = self.tx.send(Event::Notice(m.to_string()));
    }
    fn progress(&self, what: &str, done: u64, total: u64) {
        let _ = self.tx.send(Event::Progress {
            what: what.to_string(),
            done,
            total,
        });
    }
}

/// Writes a notice to Python's `sys.stderr` (so notebooks show it).
fn write_notice(py: Python<'_>, m: &str) {
    let _ = py
        .import("sys")
        .and_then(|s| s.getattr("stderr"))
        .and_then(|e| e.call_method1("write", (format!("{m}\n"),)));
}

/// Runs `work` on a worker thread with the GIL released. This thread forwards notices
/// (unless `quiet`) and progress (`progress(done, total, what)`, at most every 100 ms) and
/// checks for signals; Ctrl-C (or an exception from `progress`) becomes the library's stop
/// request, the work stops at its next check, and the exception is raised here.
fn run_blocking<T: Send>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    quiet: bool,
    work: impl FnOnce(&Reporter) -> blockspin::Result<T> + Send,
) -> PyResult<T> {
    let (tx, rx) = mpsc::channel::<Event>();
    *current() = Some((tx.clone(), String::new(), 0));
    let rx: Mutex<Receiver<Event>> = Mutex::new(rx);
    let outcome = std::thread::scope(|s| {
        let reporter = Reporter { tx };
        let worker = s.spawn(move || {
            let r = work(&reporter);
            let _ = reporter.tx.send(Event::Done);
            r
        });
        let mut stop: Option<PyErr> = None;
        let mut done = false;
        while !done {
            let first = py.detach(|| {
                rx.lock()
                    .map_err(|_| RecvTimeoutError::Disconnected)
                    .and_then(|r| r.recv_timeout(Duration::from_millis(100)))
            });
            let mut events = Vec::new();
            match first {
                Ok(e) => events.push(e),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => done = true,
            }
            if let Ok(r) = rx.lock() {
                events.extend(r.try_iter());
            }
            let mut latest = None;
            for e in events {
                match e {
                    Event::Done => done = true,
                    Event::Notice(m) if !quiet => write_notice(py, &m),
                    Event::Notice(_) => {}
                    Event::Progress { what, done, total } => latest = Some((done, total, what)),
                }
            }
            if let (Some(cb), Some(p), None) = (progress, latest, &stop)
                && let Err(e) = cb.call1(p)
            {
                stop = Some(e);
                interrupt::request(2);
            }
            if stop.is_none()
                && let Err(e) = py.check_signals()
            {
                stop = Some(e);
                interrupt::request(2);
            }
        }
        let joined = worker.join();
        (joined, stop)
    });
    *current() = None;
    let (joined, stop) = outcome;
    if let Some(e) = stop {
        interrupt::clear();
        return Err(e);
    }
    match joined {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            if matches!(e, Error::Interrupted { .. }) {
                interrupt::clear();
            }
            Err(py_error(py, e))
        }
        Err(_) => Err(internal("the worker thread panicked")),
    }
}

/// The job runner's hooks: notices, sweeps as progress, and the library's stop request.
struct PyHooks<'a> {
    rep: &'a Reporter,
    what: String,
    total: u64,
}

impl Hooks for PyHooks<'_> {
    fn notice(&mut self, message: &str) {
        self.rep.notice(message);
    }
    fn point_started(&mut self, index: usize, points: usize, total_sweeps: u64) {
        self.what = if points > 1 {
            format!("point {}/{points}: sweeps", index + 1)
        } else {
            "sweeps".into()
        };
        self.total = total_sweeps;
        self.rep.progress(&self.what, 0, total_sweeps);
    }
    fn progress(&mut self, sweeps_done: u64) {
        self.rep.progress(&self.what, sweeps_done, self.total);
    }
    fn stop_requested(&mut self) -> bool {
        interrupt::requested().is_some()
    }
}

// ---------------------------------------------------------------- arrays

/// An array for numpy: (a bytearray of the values in native byte order, C order, its
/// shape, its dtype); `blockspin._array` makes it an ndarray over the same memory (no
/// copy, writable). Bytes rather than the `numpy` crate keep this crate's dependencies
/// those of the library, so the library's compiled artifacts are shared.
fn array<'py, T: bytemuck::Pod>(
    py: Python<'py>,
    v: &[T],
    shape: Vec<usize>,
    dtype: &str,
) -> PyResult<Bound<'py, PyTuple>> {
    let bytes = PyByteArray::new(py, bytemuck::cast_slice(v));
    (bytes, PyTuple::new(py, shape)?, dtype).into_pyobject(py)
}

fn f64_array<'py>(py: Python<'py>, v: Vec<f64>, shape: Vec<usize>) -> PyResult<Bound<'py, PyAny>> {
    Ok(array(py, &v, shape, "float64")?.into_any())
}

fn i8_array<'py>(py: Python<'py>, v: Vec<i8>, shape: Vec<usize>) -> PyResult<Bound<'py, PyAny>> {
    Ok(array(py, &v, shape, "int8")?.into_any())
}

fn json<'py>(py: Python<'py>, v: &impl serde::Serialize) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = job::output::json_bytes(v).map_err(|e| py_error(py, e))?;
    Ok(PyBytes::new(py, &bytes))
}

// ---------------------------------------------------------------- sample and jobs

fn sample_args(py: Python<'_>, argv: Vec<String>) -> PyResult<blockspin::cli::sample::SampleArgs> {
    match parse(py, argv)? {
        Command::Sample(a) => Ok(*a),
        _ => Err(internal("not a sample command line")),
    }
}

/// `blockspin sample` with `argv`: (the `blockspin/sample/1` bytes, the chain-averaged
/// energy and magnetization series).
#[pyfunction]
#[pyo3(signature = (argv, progress=None, quiet=false))]
fn sample<'py>(
    py: Python<'py>,
    argv: Vec<String>,
    progress: Option<Bound<'py, PyAny>>,
    quiet: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let args = sample_args(py, argv)?;
    if args.job.is_some() {
        return Err(internal("a job through sample()"));
    }
    let spec = job::resolve(&args.settings(), None).map_err(|e| py_error(py, e))?;
    let done = run_blocking(py, progress.as_ref(), quiet, |rep| {
        let mut hooks = PyHooks {
            rep,
            what: String::new(),
            total: 0,
        };
        match runner::run(&spec, None, None, &mut hooks)? {
            Outcome::Finished(f) => Ok(f),
            Outcome::Interrupted { .. } => Err(Error::Interrupted {
                signal: interrupt::requested().unwrap_or(2),
            }),
        }
    })?;
    let Some(run) = done.points.into_iter().next() else {
        return Err(internal("a single run without results"));
    };
    run_tuple(py, run)
}

fn run_tuple<'py>(py: Python<'py>, run: RunResults) -> PyResult<Bound<'py, PyTuple>> {
    let e = run.mean_series.energy_per_site.clone();
    let m = run.mean_series.magnetization_per_site.clone();
    let (ne, nm) = (e.len(), m.len());
    let results = SampleResults {
        schema: job::results::SAMPLE_SCHEMA.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        provenance: Provenance::current(),
        run,
    };
    PyTuple::new(
        py,
        [
            json(py, &results)?.into_any(),
            f64_array(py, e, vec![ne])?,
            f64_array(py, m, vec![nm])?,
        ],
    )
}

/// A Python value of a job dictionary as TOML.
fn toml_value(v: &Bound<'_, PyAny>) -> PyResult<toml::Value> {
    if v.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(v.extract()?));
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(toml::Value::Integer(v.extract()?));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(v.extract()?));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(v.extract()?));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        return Ok(toml::Value::Table(toml_table(d)?));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items: Vec<Bound<'_, PyAny>> = v.extract()?;
        return Ok(toml::Value::Array(
            items.iter().map(toml_value).collect::<PyResult<_>>()?,
        ));
    }
    // numpy scalars and other numbers
    if let Ok(i) = v.call_method0("__index__").and_then(|i| i.extract::<i64>()) {
        return Ok(toml::Value::Integer(i));
    }
    if let Ok(f) = v.call_method0("__float__").and_then(|f| f.extract::<f64>()) {
        return Ok(toml::Value::Float(f));
    }
    Err(PyTypeError::new_err(format!(
        "job: a value of type {} is not a job file value (numbers, strings, booleans, lists and dicts are)",
        v.get_type().name()?
    )))
}

fn toml_table(d: &Bound<'_, PyDict>) -> PyResult<toml::Table> {
    let mut t = toml::Table::new();
    for (k, v) in d.iter() {
        let key: String = k.extract()?;
        if v.is_none() {
            continue;
        }
        // keyword spelling (measure_every) or the file's (measure-every)
        t.insert(key.replace('_', "-"), toml_value(&v)?);
    }
    Ok(t)
}

/// A job (`path`: a job file; or `table`: a dict) with sample's flags `argv` overriding it:
/// (the `blockspin/job/1` bytes, the points' sample/1 tuples as from [`sample`]).
#[pyfunction]
#[pyo3(signature = (argv, path=None, table=None, progress=None, quiet=false))]
fn run_job<'py>(
    py: Python<'py>,
    argv: Vec<String>,
    path: Option<PathBuf>,
    table: Option<Bound<'py, PyDict>>,
    progress: Option<Bound<'py, PyAny>>,
    quiet: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let args = sample_args(py, argv)?;
    let file = match (&path, &table) {
        (Some(p), None) => {
            let text =
                io::read_text_capped("job", p, io::caps::JOB).map_err(|e| py_error(py, e))?;
            job::JobFile::parse(&p.display().to_string(), &text)
        }
        (None, Some(t)) => {
            let text = toml::to_string(&toml_table(t)?).map_err(|e| {
                PyTypeError::new_err(format!("job: the dict is not a job table ({e})"))
            })?;
            job::JobFile::parse("the job dict", &text)
        }
        _ => return Err(internal("run_job needs a path or a table")),
    }
    .map_err(|e| py_error(py, e))?;
    if let Some(p) = &path {
        for (param, out) in [("output", &args.output), ("summary", &args.summary)] {
            if let Some(o) = out {
                io::check_distinct(param, o, &[("the job file", p.as_path())])
                    .map_err(|e| py_error(py, e))?;
            }
        }
    }
    let spec = job::resolve(&args.settings(), Some(&file)).map_err(|e| py_error(py, e))?;
    let done = run_blocking(py, progress.as_ref(), quiet, |rep| {
        let mut hooks = PyHooks {
            rep,
            what: String::new(),
            total: 0,
        };
        match runner::run(&spec, None, None, &mut hooks)? {
            Outcome::Finished(f) => Ok(f),
            Outcome::Interrupted { .. } => Err(Error::Interrupted {
                signal: interrupt::requested().unwrap_or(2),
            }),
        }
    })?;
    let results = JobResults {
        schema: job::results::JOB_SCHEMA.into(),
        provenance: Provenance::current(),
        job_seed: spec.job_seed,
        points: done.points.clone(),
        crossings: done.crossings.clone(),
        shard: spec.shard_info(),
    };
    let points: Vec<Bound<'py, PyTuple>> = done
        .points
        .into_iter()
        .map(|r| run_tuple(py, r))
        .collect::<PyResult<_>>()?;
    PyTuple::new(
        py,
        [
            json(py, &results)?.into_any(),
            PyList::new(py, points)?.into_any(),
        ],
    )
}

// ---------------------------------------------------------------- the live sampler

struct Live {
    sampler: Box<dyn Sampler>,
    run: RunConfig,
}

/// A live sampler (`blockspin.Sampler` wraps it).
#[pyclass(module = "blockspin._blockspin")]
struct LiveSampler {
    inner: Mutex<Live>,
}

impl LiveSampler {
    fn lock(&self) -> PyResult<MutexGuard<'_, Live>> {
        self.inner
            .lock()
            .map_err(|_| internal("a sampler call panicked earlier"))
    }
}

#[pymethods]
impl LiveSampler {
    /// Opens the chains of `blockspin sample`'s sampling flags `argv` (resolved and
    /// validated as `sample` does; the kernel chosen as `sample` chooses it).
    #[new]
    #[pyo3(signature = (argv, quiet=false))]
    fn new(py: Python<'_>, argv: Vec<String>, quiet: bool) -> PyResult<Self> {
        let args = sample_args(py, argv)?;
        let spec = job::resolve(&args.settings(), None).map_err(|e| py_error(py, e))?;
        let Some(point) = spec.points.first() else {
            return Err(internal("a single run without a point"));
        };
        let run = RunConfig::new(point).map_err(|e| py_error(py, e))?;
        if run.plan.auto.is_some() {
            return Err(py_error(
                py,
                Error::invalid(
                    "thermalize",
                    "the Sampler takes a number of sweeps (auto is for sample: run it there and give the Sampler its parameters.thermalize)",
                ),
            ));
        }
        memory::check(&run).map_err(|e| py_error(py, e))?;
        let spec = run.spec;
        let (parameters, kernel) = (run.parameters.backend, run.parameters.kernel);
        let sampler = run_blocking(py, None, quiet, move |rep| {
            backend::open(parameters, kernel, spec, &mut |m| rep.notice(m))
        })?;
        Ok(LiveSampler {
            inner: Mutex::new(Live { sampler, run }),
        })
    }

    /// The resolved parameters (JSON of `parameters` in a sample/1 file).
    fn parameters_json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let live = self.lock()?;
        json(py, &live.run.parameters)
    }

    /// The backend (JSON of `backend` in a sample/1 file).
    fn backend_json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let live = self.lock()?;
        json(py, &live.sampler.info())
    }

    /// Sweeps done since the start.
    #[getter]
    fn sweeps_done(&self) -> PyResult<u32> {
        Ok(self.lock()?.sampler.sweeps_done())
    }

    /// Runs `sweeps` sweeps (thermalization sweeps when `thermalizing`), measuring every
    /// `measure_every` sweeps (0: never); returns the energy and magnetization per site,
    /// each `[measurements, chains]`. Works in pieces of about 0.1 s, with the GIL
    /// released, checking for Ctrl-C between them.
    #[pyo3(signature = (sweeps, measure_every, thermalizing, progress=None))]
    fn advance<'py>(
        &self,
        py: Python<'py>,
        sweeps: u32,
        measure_every: u32,
        thermalizing: bool,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let mut live = self.lock()?;
        let live = &mut *live;
        live.sampler.set_thermalizing(thermalizing);
        let unit = measure_every.max(1);
        let mut chunk = unit;
        let mut done = 0u32;
        let mut counts = Vec::new();
        let what = if thermalizing {
            "thermalization sweeps"
        } else {
            "sweeps"
        };
        let result = (|| -> PyResult<()> {
            while done < sweeps {
                let k = chunk.min(sweeps - done);
                let started = Instant::now();
                let sampler = &mut live.sampler;
                let got = py
                    .detach(|| sampler.advance(k, measure_every))
                    .map_err(|e| py_error(py, e))?;
                counts.extend(got);
                done += k;
                if let Some(cb) = &progress {
                    cb.call1((done as u64, sweeps as u64, what))?;
                }
                py.check_signals()?;
                if started.elapsed() < Duration::from_millis(50) {
                    chunk = chunk
                        .saturating_mul(2)
                        .min(u32::MAX / 2 / unit * unit)
                        .max(unit);
                }
            }
            Ok(())
        })();
        live.sampler.set_thermalizing(false);
        result?;
        let chains = live.run.spec.chains as usize;
        let series = Series::from_counts(&live.run.spec.model, &counts, chains);
        let n = series.energy.len() / chains.max(1);
        PyTuple::new(
            py,
            [
                f64_array(py, series.energy, vec![n, chains])?,
                f64_array(py, series.magnetization, vec![n, chains])?,
            ],
        )
    }

    /// The configurations, int8 `[chains, L(, L(, L))]`, values ±1 (spin) or 0/1
    /// (bernoulli): what `--save-state` writes.
    fn configurations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut live = self.lock()?;
        let live = &mut *live;
        let sampler = &mut live.sampler;
        let bits = py
            .detach(|| sampler.configurations())
            .map_err(|e| py_error(py, e))?;
        let model = live.run.spec.model;
        let values: Vec<i8> = bits.iter().map(|&b| model.units.value(b)).collect();
        let mut shape = vec![live.run.spec.chains as usize];
        shape.extend(model.lattice.shape());
        i8_array(py, values, shape)
    }

    /// Replaces the configurations with `state` (the int8 values, C order, of an array of
    /// `shape`; shape and values as [`configurations`]); the sweep counter (the random
    /// stream's position) is kept.
    fn restore(
        &self,
        py: Python<'_>,
        state: Bound<'_, PyBytes>,
        shape: Vec<usize>,
    ) -> PyResult<()> {
        let state = state.as_bytes();
        let mut live = self.lock()?;
        let live = &mut *live;
        let model = live.run.spec.model;
        let mut want = vec![live.run.spec.chains as usize];
        want.extend(model.lattice.shape());
        let bad = |m: String| py_error(py, Error::invalid("state", m));
        if shape != want || state.len() != want.iter().product::<usize>() {
            return Err(bad(format!(
                "shape {shape:?} is not the sampler's [chains, L(, L(, L))] = {want:?}"
            )));
        }
        let (up, down) = (model.units.value(1), model.units.value(0));
        let mut bits = Vec::with_capacity(state.len());
        for (i, &v) in state.iter().enumerate() {
            let v = v as i8;
            bits.push(if v == up {
                1u8
            } else if v == down {
                0
            } else {
                return Err(bad(format!(
                    "value {v} at flat index {i}; {} units take {down} and {up}",
                    model.units.name()
                )));
            });
        }
        let sweeps = live.sampler.sweeps_done();
        let sampler = &mut live.sampler;
        py.detach(|| sampler.restore(&bits, sweeps))
            .map_err(|e| py_error(py, e))
    }
}

// ---------------------------------------------------------------- rg, mcrg, dbm

/// `blockspin rg` with `argv`: the `blockspin/rg/1` bytes (written to `--output` too).
#[pyfunction]
#[pyo3(signature = (argv, progress=None))]
fn rg<'py>(
    py: Python<'py>,
    argv: Vec<String>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let Command::Rg(a) = parse(py, argv)? else {
        return Err(internal("not an rg command line"));
    };
    let err = |e| py_error(py, e);
    let settings = a.settings().map_err(err)?;
    settings.check_ranges().map_err(err)?;
    settings.problem().map_err(err)?;
    if let Some(path) = &a.output {
        io::check_output_path("output", path).map_err(err)?;
    }
    let report = run_blocking(py, progress.as_ref(), a.quiet, |rep| {
        let r = blockspin::rg::report::run(&settings, &mut |m| rep.notice(m))?;
        if let Some(path) = &a.output {
            job::output::write_json(path, &r)?;
        }
        Ok(r)
    })?;
    json(py, &report)
}

/// `blockspin mcrg` with `argv`, of the configurations `input` when given: (the values,
/// C order, the shape, signed: int8 rather than uint8): the `blockspin/mcrg/1` bytes
/// (written to `--output`, and `--plot` drawn, too).
#[pyfunction]
#[pyo3(signature = (argv, input=None, progress=None))]
fn mcrg<'py>(
    py: Python<'py>,
    argv: Vec<String>,
    input: Option<(Bound<'py, PyBytes>, Vec<usize>, bool)>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let Command::Mcrg(a) = parse(py, argv)? else {
        return Err(internal("not an mcrg command line"));
    };
    let input = input.map(|(data, shape, signed)| NpyBytes {
        shape,
        data: data.as_bytes().to_vec(),
        signed,
    });
    let err = |e| py_error(py, e);
    let mut inputs: Vec<(&str, &std::path::Path)> = Vec::new();
    if let Some(input) = &a.input {
        inputs.push(("the input", input));
    }
    for (param, path) in [("output", &a.output), ("plot", &a.plot)] {
        if let Some(p) = path {
            io::check_output_path(param, p).map_err(err)?;
            io::check_distinct(param, p, &inputs).map_err(err)?;
            inputs.push(("also the output", p));
        }
    }
    let report = run_blocking(py, progress.as_ref(), a.quiet, |rep| {
        let given = input.as_ref().map(|x| ("the array", x));
        let r = blockspin::cli::mcrg::report(&a, given, &mut |m| rep.notice(m))?;
        if let Some(p) = &a.output {
            job::output::write_json(p, &r)?;
        }
        if let Some(p) = &a.plot {
            blockspin::mcrg::plot::png(&r, p, (1500, 500))?;
        }
        Ok(r)
    })?;
    json(py, &report)
}

/// A DBM model file's text from arrays (`hidden` and `deep`: ("gaussian", mean, std) or
/// ("bernoulli", bias, None)), checked as `Dbm::from_toml` checks a model file.
#[pyfunction]
fn dbm_model_toml(
    py: Python<'_>,
    visible_units: String,
    visible_bias: Vec<f64>,
    hidden: (String, Vec<f64>, Option<Vec<f64>>),
    deep: (String, Vec<f64>, Option<Vec<f64>>),
    visible_hidden: Vec<Vec<f64>>,
    hidden_deep: Vec<Vec<f64>>,
) -> PyResult<String> {
    use toml::Value;
    let floats = |v: &[f64]| Value::Array(v.iter().map(|&x| Value::Float(x)).collect());
    let matrix = |m: &[Vec<f64>]| Value::Array(m.iter().map(|r| floats(r)).collect());
    let layer = |(units, a, b): &(String, Vec<f64>, Option<Vec<f64>>)| {
        let mut t = toml::Table::new();
        t.insert("units".into(), Value::String(units.clone()));
        match b {
            Some(std) => {
                t.insert("mean".into(), floats(a));
                t.insert("std".into(), floats(std));
            }
            None => {
                t.insert("bias".into(), floats(a));
            }
        }
        Value::Table(t)
    };
    let mut visible = toml::Table::new();
    visible.insert("units".into(), Value::String(visible_units));
    visible.insert("bias".into(), floats(&visible_bias));
    let mut weights = toml::Table::new();
    weights.insert("visible_hidden".into(), matrix(&visible_hidden));
    weights.insert("hidden_deep".into(), matrix(&hidden_deep));
    let mut file = toml::Table::new();
    file.insert("visible".into(), Value::Table(visible));
    file.insert("hidden".into(), layer(&hidden));
    file.insert("deep".into(), layer(&deep));
    file.insert("weights".into(), Value::Table(weights));
    let text = toml::to_string(&file).map_err(|e| internal(&e.to_string()))?;
    // the model file's checks (sizes, finite values, positive standard deviations)
    blockspin::dbm::model::Dbm::from_toml(&text).map_err(|e| py_error(py, e))?;
    Ok(text)
}

/// The arrays of a model file's text: a dict of W, M, visible_bias (float64 arrays),
/// visible_units, and hidden_/deep_ mean and std (gaussian) or bias (bernoulli).
#[pyfunction]
fn dbm_model_arrays<'py>(py: Python<'py>, text: String) -> PyResult<Bound<'py, PyDict>> {
    use blockspin::dbm::model::{Layer, VisibleUnits};
    let m = load_model(py, &text)?;
    let d = PyDict::new(py);
    let matrix = |rows: &[Vec<f64>], cols: usize| {
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        f64_array(py, flat, vec![rows.len(), cols])
    };
    let (nv, nh, ns) = m.sizes();
    d.set_item("W", matrix(&m.visible_hidden, nh)?)?;
    d.set_item("M", matrix(&m.hidden_deep, ns)?)?;
    d.set_item(
        "visible_bias",
        f64_array(py, m.visible_bias.clone(), vec![nv])?,
    )?;
    d.set_item(
        "visible_units",
        match m.visible_units {
            VisibleUnits::Bernoulli => "bernoulli",
            VisibleUnits::Spin => "spin",
        },
    )?;
    for (name, layer) in [("hidden", &m.hidden), ("deep", &m.deep)] {
        match layer {
            Layer::Gaussian { mean, std } => {
                d.set_item(
                    format!("{name}_mean"),
                    f64_array(py, mean.clone(), vec![mean.len()])?,
                )?;
                d.set_item(
                    format!("{name}_std"),
                    f64_array(py, std.clone(), vec![std.len()])?,
                )?;
            }
            Layer::Bernoulli { bias } => {
                d.set_item(
                    format!("{name}_bias"),
                    f64_array(py, bias.clone(), vec![bias.len()])?,
                )?;
            }
        }
    }
    Ok(d)
}

fn load_model(py: Python<'_>, text: &str) -> PyResult<blockspin::dbm::model::Dbm> {
    blockspin::dbm::model::Dbm::from_toml(text).map_err(|e| py_error(py, e))
}

/// `dbm analyze` with `argv` (its `--model` a placeholder) of the model `model_toml`: the
/// report's JSON bytes (written to `--output` too).
#[pyfunction]
fn dbm_analyze<'py>(
    py: Python<'py>,
    argv: Vec<String>,
    model_toml: String,
) -> PyResult<Bound<'py, PyBytes>> {
    let Command::Dbm(blockspin::cli::dbm::DbmCommand::Analyze(a)) = parse(py, argv)? else {
        return Err(internal("not a dbm analyze command line"));
    };
    let m = load_model(py, &model_toml)?;
    if let Some(p) = &a.output {
        io::check_output_path("output", p).map_err(|e| py_error(py, e))?;
    }
    let report = run_blocking(py, None, true, |_| {
        let r = blockspin::cli::dbm::analyze_model(&a, &m)?;
        if let Some(p) = &a.output {
            job::output::write_json(p, &r)?;
        }
        Ok(r)
    })?;
    json(py, &report)
}

/// `dbm sample` with `argv` of the model `model_toml` (named `model_name` in the report):
/// (the report's JSON bytes, the visible snapshots int8 `[snapshots, chains, n_visible]`
/// when `keep_samples`, else None).
#[pyfunction]
#[pyo3(signature = (argv, model_toml, model_name, keep_samples, progress=None))]
fn dbm_sample<'py>(
    py: Python<'py>,
    argv: Vec<String>,
    model_toml: String,
    model_name: String,
    keep_samples: bool,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let Command::Dbm(blockspin::cli::dbm::DbmCommand::Sample(a)) = parse(py, argv)? else {
        return Err(internal("not a dbm sample command line"));
    };
    let m = load_model(py, &model_toml)?;
    for (param, p) in [("output", &a.output), ("samples", &a.samples)] {
        if let Some(p) = p {
            io::check_output_path(param, p).map_err(|e| py_error(py, e))?;
        }
    }
    let keep = keep_samples || a.samples.is_some();
    let (nv, _, _) = m.sizes();
    let (report, samples) = run_blocking(py, progress.as_ref(), a.run.quiet, |rep| {
        let (r, samples) =
            blockspin::cli::dbm::sample_model(&a, &m, &model_name, keep, &mut |s| rep.notice(s))?;
        if let Some(p) = &a.output {
            job::output::write_json(p, &r)?;
        }
        if let Some(p) = &a.samples {
            io::write_atomic(p, |w| {
                io::write_npy_i8(w, &[r.snapshots, a.run.chains as usize, nv], &samples)
            })?;
        }
        Ok((r, samples))
    })?;
    let shape = vec![report.snapshots, a.run.chains as usize, nv];
    let array = if keep_samples {
        i8_array(py, samples, shape)?
    } else {
        py.None().into_bound(py)
    };
    PyTuple::new(py, [json(py, &report)?.into_any(), array])
}

/// `dbm validate` with `argv` of the model `model_toml`: the report's JSON bytes.
#[pyfunction]
#[pyo3(signature = (argv, model_toml, progress=None))]
fn dbm_validate<'py>(
    py: Python<'py>,
    argv: Vec<String>,
    model_toml: String,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let Command::Dbm(blockspin::cli::dbm::DbmCommand::Validate(a)) = parse(py, argv)? else {
        return Err(internal("not a dbm validate command line"));
    };
    let m = load_model(py, &model_toml)?;
    if let Some(p) = &a.output {
        io::check_output_path("output", p).map_err(|e| py_error(py, e))?;
    }
    let report = run_blocking(py, progress.as_ref(), a.run.quiet, |rep| {
        let r = blockspin::cli::dbm::validate_model(&a, &m, &mut |s| rep.notice(s))?;
        if let Some(p) = &a.output {
            job::output::write_json(p, &r)?;
        }
        Ok(r)
    })?;
    json(py, &report)
}

/// (version, git revision) of the library this package was built from.
#[pyfunction]
fn version() -> (String, String) {
    let p = Provenance::current();
    (p.version, p.git_revision)
}

#[pymodule]
fn _blockspin(m: &Bound<'_, PyModule>) -> PyResult<()> {
    interrupt::install(Box::new(Forward));
    m.add_function(wrap_pyfunction!(sample, m)?)?;
    m.add_function(wrap_pyfunction!(run_job, m)?)?;
    m.add_function(wrap_pyfunction!(rg, m)?)?;
    m.add_function(wrap_pyfunction!(mcrg, m)?)?;
    m.add_function(wrap_pyfunction!(dbm_model_toml, m)?)?;
    m.add_function(wrap_pyfunction!(dbm_model_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(dbm_analyze, m)?)?;
    m.add_function(wrap_pyfunction!(dbm_sample, m)?)?;
    m.add_function(wrap_pyfunction!(dbm_validate, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_class::<LiveSampler>()?;
    Ok(())
}
