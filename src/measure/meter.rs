//! Memory one phase of work takes, on the host (the counting allocator's heap) and on the device (the
//! CUDA memory pool's used bytes), each as growth over what was held when the phase began.

use candle_core::Device;

/// Started before a phase; [`Meter::finish`] reads what it took.
pub struct Meter {
    device: Device,
    host_before: usize,
    device_before: Option<usize>,
}

/// Bytes a phase took: at its peak and still held at its end, over the start.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub host_peak: usize,
    pub host_held: usize,
    /// None on the CPU.
    pub device_peak: Option<usize>,
    pub device_held: Option<usize>,
}

impl Usage {
    /// The larger of each figure.
    pub fn max(self, other: Usage) -> Usage {
        Usage {
            host_peak: self.host_peak.max(other.host_peak),
            host_held: self.host_held.max(other.host_held),
            device_peak: self.device_peak.max(other.device_peak),
            device_held: self.device_held.max(other.device_held),
        }
    }
}

impl Meter {
    /// Resets both high-water marks and notes what is held now.
    pub fn start(device: &Device) -> Meter {
        let host_before = crate::measure::alloc::current();
        crate::measure::alloc::reset_peak();
        crate::device::reset_peak_allocated(device);
        let device_before = crate::device::allocated(device).map(|(current, _)| current);
        Meter { device: device.clone(), host_before, device_before }
    }

    /// What the phase took so far (call after the device has finished its work: see
    /// [`crate::device::timed`]).
    pub fn finish(&self) -> Usage {
        let device = crate::device::allocated(&self.device);
        let before = self.device_before.unwrap_or(0);
        Usage {
            host_peak: crate::measure::alloc::peak().saturating_sub(self.host_before),
            host_held: crate::measure::alloc::current().saturating_sub(self.host_before),
            device_peak: device.map(|(_, high)| high.saturating_sub(before)),
            device_held: device.map(|(current, _)| current.saturating_sub(before)),
        }
    }
}
