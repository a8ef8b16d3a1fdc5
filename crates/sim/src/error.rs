//! Errors of the world model. File errors always carry a [`Location`] so a user can go straight
//! to the offending line of a world file or RTT matrix.

use std::fmt;
use std::path::PathBuf;

/// A position in a named input: `file:line` or `file:line:column`, both 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file path (or a label such as `<world>` for in-memory input) as given by the caller.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column in characters, when the problem has a precise position.
    pub column: Option<usize>,
}

impl Location {
    /// The location of byte `offset` in `source` (clamped to its end), with a column.
    pub fn at_offset(file: &str, source: &str, offset: usize) -> Location {
        let offset = floor_char_boundary(source, offset.min(source.len()));
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location {
            file: file.to_owned(),
            line,
            column: Some(column),
        }
    }

    /// A whole-line location (used for CSV rows, where a column would be misleading).
    pub fn line(file: &str, line: usize) -> Location {
        Location {
            file: file.to_owned(),
            line,
            column: None,
        }
    }
}

// `str::floor_char_boundary` is unstable; spans from toml are on char boundaries anyway, this
// only guards against a caller-supplied offset splitting a character.
fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "{}:{}:{}", self.file, self.line, c),
            None => write!(f, "{}:{}", self.file, self.line),
        }
    }
}

/// What is wrong with a value in a world file or matrix, independent of where it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// Latitude outside −90..=90 degrees (or not finite).
    #[error("latitude {0} is outside -90..=90")]
    LatitudeOutOfRange(f64),
    /// Longitude outside −180..=180 degrees (or not finite).
    #[error("longitude {0} is outside -180..=180")]
    LongitudeOutOfRange(f64),
    /// A place name that is empty or only whitespace.
    #[error("place name is empty")]
    EmptyName,
    /// A country code that is not two ASCII letters.
    #[error("country `{0}` is not a two-letter ISO 3166 code")]
    BadCountry(String),
    /// A second place with a name already used (names are compared exactly).
    #[error("place `{name}` is already defined on line {first_line}")]
    DuplicatePlace {
        /// The repeated name.
        name: String,
        /// Where the first definition is.
        first_line: usize,
    },
    /// A name that refers to no place of the world.
    #[error("unknown place `{0}`")]
    UnknownPlace(String),
    /// A negative round-trip time.
    #[error("RTT {0} ms is negative")]
    NegativeRtt(f64),
    /// A field that should be a finite number and is not.
    #[error("`{value}` is not a valid {what}")]
    NotANumber {
        /// What the field holds, e.g. "RTT in ms".
        what: &'static str,
        /// The text found.
        value: String,
    },
    /// The same directed pair measured twice.
    #[error("{from} -> {to} is already measured on line {first_line}")]
    DuplicatePair {
        /// Source place.
        from: String,
        /// Destination place.
        to: String,
        /// Where the first measurement is.
        first_line: usize,
    },
    /// A CSV header that lacks a required column.
    #[error("missing column `{0}` in the header")]
    MissingColumn(&'static str),
    /// A row the CSV reader could not split (e.g. wrong number of fields, bad quoting).
    #[error("malformed row: {0}")]
    MalformedRow(String),
    /// The RTT matrix a world file refers to cannot be read.
    #[error("cannot read RTT matrix {path}: {reason}")]
    MatrixUnreadable {
        /// The resolved path.
        path: String,
        /// The I/O error, as text.
        reason: String,
    },
    /// A place with only one of `lat` and `lon`.
    #[error("give both lat and lon, or neither (then built-in coordinates are used)")]
    HalfCoordinates,
    /// A place without coordinates that has no built-in ones: a region not in geo's catalog,
    /// or a client whose country is not in geo's table.
    #[error("no built-in coordinates for {0}; give lat and lon")]
    NoBuiltinCoordinates(String),
    /// A demo role (origin, edge, geo target) given to a name that is not a region place.
    #[error("`{0}` is not a region place of this world")]
    NotARegion(String),
    /// The same region listed twice in one demo list.
    #[error("`{0}` is listed twice")]
    ListedTwice(String),
    /// A demo list that must not be empty is.
    #[error("`{0}` must name at least one region")]
    EmptyList(&'static str),
    /// A country code that geo's table does not have.
    #[error("`{0}` is not an assigned ISO 3166 country code")]
    UnknownCountry(String),
    /// A geo override pointing at a region that runs no origin.
    #[error("{country} -> `{region}`: no origin runs in `{region}` (see `origins`)")]
    GeoNotAnOrigin {
        /// The country code.
        country: String,
        /// The region it was mapped to.
        region: String,
    },
    /// A model or link parameter outside its valid range.
    #[error("{name} = {value} is invalid: {expected}")]
    BadParameter {
        /// The parameter's name as written in a world file.
        name: &'static str,
        /// The value found.
        value: f64,
        /// The valid range, in words.
        expected: &'static str,
    },
}

/// A failure to load a world file or RTT matrix. `Display` starts with the location.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path as given.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a field has the wrong type or an unknown name.
    #[error("{at}: {message}")]
    Syntax {
        /// Where the parser stopped.
        at: Location,
        /// The parser's message.
        message: String,
    },
    /// The file parses but a value is not acceptable.
    #[error("{at}: {problem}")]
    Invalid {
        /// The offending value's position.
        at: Location,
        /// What is wrong with it.
        problem: Problem,
    },
}

impl WorldError {
    /// The position of the problem, when it has one (not for read failures).
    pub fn location(&self) -> Option<&Location> {
        match self {
            WorldError::Read { .. } => None,
            WorldError::Syntax { at, .. } | WorldError::Invalid { at, .. } => Some(at),
        }
    }

    /// The semantic problem, when this is one (not for read or syntax failures).
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            WorldError::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

/// A lookup named a place that the world does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown place `{0}`")]
pub struct UnknownPlace(pub String);

/// A place could not be added because its name is taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("place `{0}` already exists")]
pub struct DuplicatePlace(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_lines_and_columns() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(Location::at_offset("f", src, 0).to_string(), "f:1:1");
        // "bé = " is 6 bytes but 5 characters; the column counts characters.
        let at = Location::at_offset("f", src, 6 + 6);
        assert_eq!((at.line, at.column), (2, Some(6)));
        assert_eq!(Location::at_offset("f", src, 999).line, 3);
    }
}
