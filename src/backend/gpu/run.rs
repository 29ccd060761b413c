//! Running a GPU sampler: recording steps into submissions and the [`Sampler`] interface.

use super::*;

impl GpuSampler {
    /// Records `steps` (at most [`MAX_STEPS`], at most `slots` measurements) into one
    /// submission, waits for it, and returns the measurements it took.
    fn submit(&mut self, steps: &[Step]) -> Result<Vec<Counts>> {
        let mut slots = 0;
        let entries: Vec<(usize, GpuStep, (u32, u32))> = steps
            .iter()
            .map(|step| -> Result<_> {
                Ok(match *step {
                    Step::Update { sweep, colour } => (
                        UPDATE,
                        GpuStep {
                            sweep,
                            colour,
                            slot: 0,
                            total_threads: self.update_threads,
                        },
                        self.update_grid,
                    ),
                    Step::Measure => {
                        slots += 1;
                        (
                            MEASURE,
                            GpuStep {
                                slot: slots - 1,
                                ..Default::default()
                            },
                            self.measure_grid,
                        )
                    }
                    Step::Cluster { kernel, sweep } => {
                        let c = self.cluster.as_ref().ok_or_else(|| {
                            Error::Internal("a cluster step without cluster buffers".into())
                        })?;
                        let (threads, grid) = if kernel == SW_INIT { c.keys } else { c.sites };
                        (
                            kernel,
                            GpuStep {
                                sweep,
                                colour: 0,
                                slot: slots.saturating_sub(1),
                                total_threads: threads,
                            },
                            grid,
                        )
                    }
                })
            })
            .collect::<Result<_>>()?;
        debug_assert!(slots <= self.slots);
        let dispatches: Vec<Dispatch> = entries
            .iter()
            .map(|(kernel, step, workgroups)| Dispatch {
                kernel: *kernel,
                step: bytemuck::bytes_of(step),
                workgroups: *workgroups,
            })
            .collect();
        let ctx = &self.ctx;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let series_bytes = MEASURE_BYTES * self.spec.chains as u64 * slots as u64;
        if slots > 0 {
            enc.clear_buffer(&self.series, 0, Some(series_bytes));
        }
        self.kernels.record(ctx, &mut enc, &dispatches);
        if slots == 0 {
            ctx.queue.submit([enc.finish()]);
            ctx.wait()?;
            return Ok(Vec::new());
        }
        enc.copy_buffer_to_buffer(&self.series, 0, &self.series_readback, 0, series_bytes);
        ctx.queue.submit([enc.finish()]);
        let bytes = ctx.map_read(&self.series_readback, series_bytes)?;
        let sum = |c: &[u8], i: usize| u64::from_le_bytes(c[8 * i..8 * i + 8].try_into().unwrap());
        let out = bytes
            .chunks_exact(MEASURE_BYTES as usize)
            .map(|c| Counts::from_words(std::array::from_fn(|i| sum(c, i))))
            .collect();
        Ok(out)
    }
}

/// One dispatch of a submission.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// One colour of one sweep.
    Update { sweep: u32, colour: u32 },
    /// Measure all chains into the next series slot.
    Measure,
    /// A Swendsen–Wang dispatch (the cluster sums go to the last measurement's slot).
    Cluster { kernel: usize, sweep: u32 },
}

impl Sampler for GpuSampler {
    fn info(&self) -> BackendInfo {
        let api = match self.layout {
            Layout::PerSite if self.cluster.is_some() => {
                format!("{}, Swendsen-Wang (atomic union-find)", self.ctx.api)
            }
            Layout::PerSite => self.ctx.api.clone(),
            Layout::ChainPacked => {
                format!("{}, multi-spin coded (32 chains per word)", self.ctx.api)
            }
            Layout::SitePacked => format!("{}, site-packed (32 sites per word)", self.ctx.api),
            Layout::RowPacked { .. } => format!(
                "{}, row-packed (32 sites per word, {} storage binding{})",
                self.ctx.api,
                self.parts.len(),
                if self.parts.len() == 1 { "" } else { "s" }
            ),
        };
        BackendInfo {
            kind: "gpu".into(),
            adapter: self.ctx.adapter_name.clone(),
            api,
            kernel: match self.layout {
                Layout::PerSite | Layout::RowPacked { .. } => "reference",
                Layout::ChainPacked => "chains",
                Layout::SitePacked => "sites",
            }
            .into(),
        }
    }

    fn sweeps_done(&self) -> u32 {
        self.sweep
    }

    fn advance(&mut self, sweeps: u32, measure_every: u32) -> Result<Vec<Counts>> {
        check_sweep_budget(self.sweep, sweeps)?;
        let colours = self.spec.model.lattice.colours();
        let first = self.sweep;
        let sw = self.cluster.is_some();
        // The whole schedule, generated lazily and cut into submissions that hold at most
        // MAX_STEPS dispatches and `slots` measurements. A Swendsen–Wang sweep is sw_init,
        // sw_union, sw_flip; its measurement adds sw_sizes and sw_sums.
        let mut schedule = (0..sweeps)
            .flat_map(move |i| {
                let sweep = first + i;
                let measure = measure_every > 0 && (i + 1) % measure_every == 0;
                let update: Vec<Step> = if sw {
                    [SW_INIT, UPDATE, SW_FLIP]
                        .map(|kernel| Step::Cluster { kernel, sweep })
                        .to_vec()
                } else {
                    (0..colours)
                        .map(|colour| Step::Update { sweep, colour })
                        .collect()
                };
                let mut measurement = Vec::new();
                if measure {
                    measurement.push(Step::Measure);
                    if sw {
                        measurement.extend(
                            [SW_SIZES, SW_SUMS].map(|kernel| Step::Cluster { kernel, sweep }),
                        );
                    }
                }
                update.into_iter().chain(measurement)
            })
            .peekable();
        let mut out = Vec::new();
        let mut batch = Vec::with_capacity(MAX_STEPS as usize);
        loop {
            batch.clear();
            let mut measurements = 0;
            // a measurement's cluster dispatches (at most two) stay in its submission
            loop {
                let sums_follow = matches!(
                    schedule.peek(),
                    Some(Step::Cluster {
                        kernel: SW_SIZES | SW_SUMS,
                        ..
                    })
                );
                if !sums_follow
                    && (batch.len() + 3 > MAX_STEPS as usize || measurements >= self.slots)
                {
                    break;
                }
                match schedule.next() {
                    Some(step) => {
                        measurements += matches!(step, Step::Measure) as u32;
                        batch.push(step);
                    }
                    None => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            out.extend(self.submit(&batch)?);
        }
        self.sweep += sweeps;
        Ok(out)
    }

    fn restore(&mut self, bits: &[u8], sweeps_done: u32) -> Result<()> {
        crate::backend::check_restore(bits.len(), self.spec.chains as usize * self.spec.sites())?;
        let words = encode(self.layout, &self.plan, &self.spec, bits)?;
        let mut offset = 0;
        for (part, &len) in self.parts.iter().zip(&self.plan.parts) {
            let chunk = &words[offset..offset + len as usize];
            self.ctx
                .queue
                .write_buffer(part, 0, bytemuck::cast_slice(chunk));
            offset += len as usize;
        }
        self.ctx.wait()?;
        self.sweep = sweeps_done;
        Ok(())
    }

    fn device_state(&self) -> Option<crate::backend::DeviceState<'_>> {
        Some(crate::backend::DeviceState {
            ctx: &self.ctx,
            parts: &self.parts,
            layout: self.layout,
            plan: &self.plan,
            spec: &self.spec,
        })
    }

    fn configurations(&mut self) -> Result<Vec<u8>> {
        let mut words = Vec::with_capacity(self.plan.words as usize);
        for part in &self.parts {
            let bytes = self.ctx.read_buffer(part, part.size())?;
            words.extend(
                bytes
                    .chunks_exact(4)
                    .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])),
            );
        }
        decode(self.layout, &self.plan, &self.spec, &words)
    }
}
