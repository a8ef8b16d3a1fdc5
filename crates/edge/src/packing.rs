//! Thread packing: how many of the serving threads the load needs.
//!
//! Why: a serving thread that runs alone on a core serves a keep-alive connection with no
//! context switch between requests; two half-busy threads sharing cores with other
//! processes (the load generator of a benchmark, the application beside the node) are
//! descheduled and woken far more often, and a thread waiting for a core stalls every
//! connection it owns until the kernel's next tick (4 ms at `HZ=250`). Measured on 2 shared
//! cores with `wrk` on one of them (BENCHMARKS.md, session 8): 1 KiB cache hits on one
//! serving thread, ~80,000/s at 12 µs of CPU and 0.9 ms p99, against ~60,000/s, 16 µs and
//! 4 ms spread over two. So the node starts on one thread and spreads to more only when the
//! threads in use are saturated *and* either the machine has a core to spare or they are
//! starved: waiting in the kernel's run queue for a good part of their time, because other
//! processes (an origin on the same machine, say) share the cores. The kernel shares CPU
//! time out per runnable thread, so one thread among several busy processes gets too small a
//! share: proxying to an origin on the same 2 cores, one thread waited 20 % of its time and
//! served ~0.8× what two threads served. A thread alone on its core waits well under 1 %.
//! This is how a work-stealing pool leaves workers parked until there is work for them,
//! without tasks moving between threads on every wake-up.
//!
//! Owns: the decision ([`Packer`], a pure policy over measured utilisation), the machine's
//! idle CPU ([`IdleCpu`], from `/proc/stat`) and the threads' run-queue waits
//! ([`RunQueueWait`], from each thread's `schedstat`). Must never: move connections itself (serving
//! threads move their own, between requests, see [`crate::serving`]) or run on a serving
//! thread.

use std::time::Duration;

/// How often the controller samples and decides.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Smoothing of each 100 ms sample (weight of the newest).
const ALPHA: f64 = 0.5;
/// Spread when the threads in use are this busy on average…
const GROW_BUSY: f64 = 0.8;
/// …and the machine has this many idle cores (one thread more must find a core free, or it
/// only adds context switches)…
const GROW_IDLE_CORES: f64 = 0.75;
/// …or they spend this fraction of their unparked time waiting for a CPU…
const GROW_STARVED: f64 = 0.1;
/// …for this many samples in a row.
const GROW_SAMPLES: u32 = 3;
/// Pack one thread tighter when the others could carry the load at this utilisation…
const SHRINK_BUSY: f64 = 0.6;
/// …for this many samples in a row (a second: shrinking moves connections, so it waits
/// longer than growing, which relieves a saturated thread).
const SHRINK_SAMPLES: u32 = 10;

/// One sample of the load over the last interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Per serving thread, the fraction of the interval it spent running tasks (0..=1).
    pub busy: Vec<f64>,
    /// Idle cores of the machine over the interval; None where that cannot be measured.
    pub idle_cores: Option<f64>,
    /// The fraction of their runnable time the threads in use spent waiting for a CPU
    /// (mean over them); None where that cannot be measured.
    pub starved: Option<f64>,
}

/// Decides how many serving threads take connections. Threads `0..active` do; the others
/// hand theirs over.
#[derive(Debug)]
pub struct Packer {
    threads: usize,
    active: usize,
    busy: Vec<f64>,
    idle_cores: f64,
    starved: f64,
    grow_streak: u32,
    shrink_streak: u32,
}

impl Packer {
    /// A packer for `threads` serving threads, starting with one in use.
    pub fn new(threads: usize) -> Packer {
        let threads = threads.max(1);
        Packer {
            threads,
            active: 1,
            busy: vec![0.0; threads],
            idle_cores: 0.0,
            starved: 0.0,
            grow_streak: 0,
            shrink_streak: 0,
        }
    }

    /// The number of threads in use.
    pub fn active(&self) -> usize {
        self.active
    }

    /// Takes one sample and returns the number of threads to use from now on. A sample
    /// without a measure of idle CPU changes nothing (where idle CPU can never be measured,
    /// the node does not pack at all: see [`IdleCpu::open`]).
    pub fn update(&mut self, sample: &Sample) -> usize {
        let Some(idle) = sample.idle_cores else {
            return self.active;
        };
        for (smooth, &now) in self.busy.iter_mut().zip(&sample.busy) {
            *smooth = ALPHA * now.clamp(0.0, 1.0) + (1.0 - ALPHA) * *smooth;
        }
        self.idle_cores = ALPHA * idle.max(0.0) + (1.0 - ALPHA) * self.idle_cores;
        let starved = sample.starved.unwrap_or(0.0).clamp(0.0, 1.0);
        self.starved = ALPHA * starved + (1.0 - ALPHA) * self.starved;
        let used: f64 = self.busy[..self.active].iter().sum();
        let mean = used / self.active as f64;
        let room = self.idle_cores >= GROW_IDLE_CORES || self.starved >= GROW_STARVED;
        if self.active < self.threads && mean >= GROW_BUSY && room {
            self.grow_streak += 1;
        } else {
            self.grow_streak = 0;
        }
        if self.active > 1 && used <= SHRINK_BUSY * (self.active - 1) as f64 {
            self.shrink_streak += 1;
        } else {
            self.shrink_streak = 0;
        }
        if self.grow_streak >= GROW_SAMPLES {
            self.active += 1;
            self.grow_streak = 0;
        } else if self.shrink_streak >= SHRINK_SAMPLES {
            self.active -= 1;
            self.shrink_streak = 0;
        }
        self.active
    }
}

/// The machine's idle CPU time, read from `/proc/stat` (Linux).
pub struct IdleCpu {
    last: Option<(u64, u64)>,
    cores: usize,
}

impl IdleCpu {
    /// None where `/proc/stat` cannot be read (not Linux): packing is then off.
    pub fn open() -> Option<IdleCpu> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let cores = text
            .lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .count();
        let last = Some(parse_idle(&text)?);
        Some(IdleCpu {
            last,
            cores: cores.max(1),
        })
    }

    /// Idle cores since the previous call (or since `open`).
    pub fn sample(&mut self) -> Option<f64> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let (idle, total) = parse_idle(&text)?;
        let (last_idle, last_total) = self.last.replace((idle, total))?;
        let total = total.checked_sub(last_total)?;
        if total == 0 {
            return None;
        }
        let idle = idle.saturating_sub(last_idle);
        Some(idle as f64 / total as f64 * self.cores as f64)
    }
}

/// How long threads waited in the kernel's run queue: `schedstat` of each thread
/// (`/proc/self/task/<tid>/schedstat`: nanoseconds on a CPU, nanoseconds waiting, slices).
pub struct RunQueueWait {
    last: Vec<Option<(u64, u64)>>,
}

impl RunQueueWait {
    /// For `threads` threads, read through [`RunQueueWait::sample`].
    pub fn new(threads: usize) -> RunQueueWait {
        RunQueueWait {
            last: vec![None; threads],
        }
    }

    /// The path of the calling thread's `schedstat`, None where there is none (not Linux,
    /// or a kernel without schedstats).
    pub fn own_path() -> Option<std::path::PathBuf> {
        // `/proc/thread-self` links to `<pid>/task/<tid>`.
        let own = std::fs::read_link("/proc/thread-self").ok()?;
        let path = std::path::Path::new("/proc").join(own).join("schedstat");
        read_schedstat(&path).map(|_| path)
    }

    /// The mean, over the threads given by index and path, of the fraction of the time they
    /// were runnable since the previous call that they spent waiting for a CPU.
    pub fn sample<'a>(
        &mut self,
        threads: impl Iterator<Item = (usize, &'a std::path::Path)>,
    ) -> Option<f64> {
        let (mut sum, mut n) = (0.0, 0);
        for (i, path) in threads {
            let now = read_schedstat(path)?;
            let before = self.last.get_mut(i)?.replace(now);
            let Some((run_before, wait_before)) = before else {
                continue;
            };
            let run = now.0.saturating_sub(run_before);
            let wait = now.1.saturating_sub(wait_before);
            if run + wait > 0 {
                sum += wait as f64 / (run + wait) as f64;
                n += 1;
            }
        }
        (n > 0).then(|| sum / f64::from(n))
    }
}

/// (nanoseconds on a CPU, nanoseconds waiting for one) from a `schedstat` file.
fn read_schedstat(path: &std::path::Path) -> Option<(u64, u64)> {
    parse_schedstat(&std::fs::read_to_string(path).ok()?)
}

fn parse_schedstat(text: &str) -> Option<(u64, u64)> {
    let mut fields = text.split_ascii_whitespace().map(str::parse::<u64>);
    Some((fields.next()?.ok()?, fields.next()?.ok()?))
}

/// (idle + iowait, all) jiffies from the first line of `/proc/stat`
/// (`cpu  user nice system idle iowait irq softirq steal …`).
fn parse_idle(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().next()?;
    let mut fields = line.split_ascii_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let values: Vec<u64> = fields.map_while(|f| f.parse().ok()).collect();
    if values.len() < 5 {
        return None;
    }
    // Guest time is already counted in user time.
    let total = values.iter().take(8).sum();
    Some((values[3] + values[4], total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(busy: &[f64], idle: f64) -> Sample {
        Sample {
            busy: busy.to_vec(),
            idle_cores: Some(idle),
            starved: Some(0.0),
        }
    }

    fn feed(p: &mut Packer, s: &Sample, times: usize) -> usize {
        for _ in 0..times {
            p.update(s);
        }
        p.active()
    }

    #[test]
    fn starts_on_one_thread_and_stays_there_while_it_is_not_saturated() {
        let mut p = Packer::new(4);
        assert_eq!(p.active(), 1);
        assert_eq!(feed(&mut p, &sample(&[0.6, 0.0, 0.0, 0.0], 3.4), 50), 1);
    }

    #[test]
    fn a_saturated_thread_spreads_only_when_the_machine_has_a_core_free() {
        // The other core is taken (a load generator, another process): more threads would
        // only take turns on the same cores.
        let mut p = Packer::new(2);
        assert_eq!(feed(&mut p, &sample(&[1.0, 0.0], 0.2), 50), 1);
        // A core is free: spread after a few samples, not on the first one.
        let mut p = Packer::new(2);
        assert_eq!(feed(&mut p, &sample(&[1.0, 0.0], 1.0), 1), 1);
        assert_eq!(feed(&mut p, &sample(&[1.0, 0.0], 1.0), 4), 2);
    }

    #[test]
    fn a_saturated_thread_that_waits_for_a_cpu_spreads_even_without_an_idle_core() {
        // Sharing the cores with other busy processes: a second thread gets a second share.
        let mut p = Packer::new(2);
        let mut starved = sample(&[1.0, 0.0], 0.2);
        starved.starved = Some(0.2);
        assert_eq!(feed(&mut p, &starved, 10), 2);
        // Alone on its core (a wait well under a tenth): stays packed.
        let mut p = Packer::new(2);
        let mut alone = sample(&[1.0, 0.0], 0.2);
        alone.starved = Some(0.01);
        assert_eq!(feed(&mut p, &alone, 50), 1);
        // Waiting but not saturated: a thread with spare time needs no help.
        let mut p = Packer::new(2);
        let mut light = sample(&[0.5, 0.0], 0.2);
        light.starved = Some(0.3);
        assert_eq!(feed(&mut p, &light, 50), 1);
    }

    #[test]
    fn schedstat_gives_run_and_wait_nanoseconds() {
        assert_eq!(
            parse_schedstat("6196000 1578000 46199\n"),
            Some((6_196_000, 1_578_000))
        );
        assert_eq!(parse_schedstat("x 1 2"), None);
        assert_eq!(parse_schedstat(""), None);
        // This very thread has one, where schedstats exist.
        if let Some(path) = RunQueueWait::own_path() {
            let mut waits = RunQueueWait::new(1);
            assert_eq!(waits.sample([(0, path.as_path())].into_iter()), None);
            let spin = std::time::Instant::now();
            while spin.elapsed() < Duration::from_millis(30) {}
            let starved = waits.sample([(0, path.as_path())].into_iter());
            assert!(
                starved.is_some_and(|s| (0.0..=1.0).contains(&s)),
                "{starved:?}"
            );
        }
    }

    #[test]
    fn spreads_one_thread_at_a_time_up_to_every_thread() {
        let mut p = Packer::new(3);
        let mut seen = vec![];
        for _ in 0..40 {
            seen.push(p.update(&sample(&[1.0, 1.0, 1.0], 2.0)));
        }
        assert_eq!(p.active(), 3);
        assert!(seen.windows(2).all(|w| w[1] <= w[0] + 1), "{seen:?}");
    }

    #[test]
    fn packs_again_after_a_second_of_light_load() {
        let mut p = Packer::new(2);
        feed(&mut p, &sample(&[1.0, 0.0], 1.5), 10);
        assert_eq!(p.active(), 2);
        // Half a second of light load is not enough…
        assert_eq!(feed(&mut p, &sample(&[0.2, 0.1], 1.5), 5), 2);
        // …but it holds on.
        assert_eq!(feed(&mut p, &sample(&[0.2, 0.1], 1.5), 10), 1);
        // Load that one thread would not carry keeps both.
        let mut p = Packer::new(2);
        feed(&mut p, &sample(&[1.0, 0.0], 1.5), 10);
        assert_eq!(feed(&mut p, &sample(&[0.5, 0.5], 1.0), 50), 2);
    }

    #[test]
    fn a_sample_without_a_measure_of_idle_cpu_changes_nothing() {
        let mut p = Packer::new(3);
        let s = Sample {
            busy: vec![1.0; 3],
            idle_cores: None,
            starved: Some(0.5),
        };
        assert_eq!(feed(&mut p, &s, 20), 1);
    }

    #[test]
    fn idle_time_is_read_from_the_first_line_of_proc_stat() {
        let stat = "cpu  100 5 50 800 40 1 2 2 0 0\ncpu0 50 2 25 400 20 0 1 1 0 0\n";
        assert_eq!(parse_idle(stat), Some((840, 1000)));
        assert_eq!(parse_idle("intr 1 2 3\n"), None);
        assert_eq!(parse_idle("cpu  1 2\n"), None);
    }
}
