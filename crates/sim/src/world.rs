//! The world: places, the latency between them, and the emulated links that carry it.

use crate::demo::DemoLayout;
use crate::error::{DuplicatePlace, Location, Problem, UnknownPlace, WorldError};
use crate::matrix::RttMatrix;
use crate::model::LatencyModel;
use crate::place::{Place, PlaceKind};
use crate::wan::{Link, LinkSpec};
use std::collections::HashMap;
use std::time::Duration;

/// Where an RTT figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RttSource {
    /// The matrix has this direction.
    Measured,
    /// The matrix has only the reverse direction.
    MeasuredReverse,
    /// The distance model.
    Model,
}

/// A round-trip time between two places and its provenance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RttEstimate {
    /// Round-trip time in ms (finite, ≥ 0).
    pub ms: f64,
    /// Where it came from.
    pub source: RttSource,
}

impl RttEstimate {
    /// The RTT as a duration (saturating at `Duration::MAX` for absurd values).
    pub fn duration(&self) -> Duration {
        Duration::try_from_secs_f64(self.ms.max(0.0) / 1000.0).unwrap_or(Duration::MAX)
    }

    /// Half the RTT: the one-way delay of a symmetric link.
    pub fn one_way(&self) -> Duration {
        self.duration() / 2
    }
}

/// A set of uniquely named places, a latency model, optionally a measured RTT matrix that
/// overrides the model, the link properties (jitter, loss, bandwidth, slow start) every
/// emulated link of this world gets, and optionally the demo's layout (which regions run
/// origins and edges).
///
/// Invariants: every place named in the matrix exists in the world; the layout, if any,
/// satisfies [`DemoLayout`]'s invariants against this world's places.
#[derive(Debug, Clone, Default)]
pub struct World {
    model: LatencyModel,
    places: Vec<Place>,
    index: HashMap<String, usize>,
    matrix: Option<RttMatrix>,
    link_template: LinkSpec,
    demo: Option<DemoLayout>,
}

impl World {
    /// An empty world using `model`, with default link properties (no jitter, loss or cap;
    /// slow start on).
    pub fn new(model: LatencyModel) -> World {
        World {
            model,
            ..World::default()
        }
    }

    /// Adds a place; fails if its name is taken (names compare exactly).
    pub fn add(&mut self, place: Place) -> Result<(), DuplicatePlace> {
        if self.index.contains_key(place.name()) {
            return Err(DuplicatePlace(place.name().to_owned()));
        }
        self.index
            .insert(place.name().to_owned(), self.places.len());
        self.places.push(place);
        Ok(())
    }

    /// Uses `matrix` for RTTs it has (see [`World::rtt`]). Fails, naming the matrix line, if it
    /// mentions a place this world does not have.
    pub fn with_matrix(mut self, matrix: RttMatrix) -> Result<World, WorldError> {
        for m in matrix.measurements() {
            for name in [&m.from, &m.to] {
                if !self.index.contains_key(name.as_str()) {
                    return Err(WorldError::Invalid {
                        at: Location::line(matrix.source(), m.line),
                        problem: Problem::UnknownPlace(name.clone()),
                    });
                }
            }
        }
        self.matrix = Some(matrix);
        Ok(self)
    }

    /// Sets the jitter, loss, bandwidth cap and slow start that [`World::link`] gives every
    /// direction; the template's `one_way` is ignored (it comes from the RTT).
    pub fn with_link_template(mut self, template: LinkSpec) -> World {
        self.link_template = template;
        self
    }

    /// Sets which regions run origins and edge nodes in the demo. Fails with the first
    /// violated invariant of [`DemoLayout`] (call it after adding the places it names).
    pub fn with_demo(mut self, layout: DemoLayout) -> Result<World, Problem> {
        layout.check(&self).map_err(|(_, problem)| problem)?;
        self.demo = Some(layout);
        Ok(self)
    }

    /// The demo layout, if this world has one.
    pub fn demo(&self) -> Option<&DemoLayout> {
        self.demo.as_ref()
    }

    /// The distance model.
    pub fn model(&self) -> &LatencyModel {
        &self.model
    }

    /// The measured matrix, if any.
    pub fn matrix(&self) -> Option<&RttMatrix> {
        self.matrix.as_ref()
    }

    /// The link properties applied by [`World::link`].
    pub fn link_template(&self) -> &LinkSpec {
        &self.link_template
    }

    /// All places, in the order added.
    pub fn places(&self) -> &[Place] {
        &self.places
    }

    /// Places of one kind, in the order added.
    pub fn places_of(&self, kind: PlaceKind) -> impl Iterator<Item = &Place> {
        self.places.iter().filter(move |p| p.kind() == kind)
    }

    /// Client places in `country` (ISO code, any case), in the order added.
    pub fn clients_in<'a>(&'a self, country: &'a str) -> impl Iterator<Item = &'a Place> + 'a {
        self.places_of(PlaceKind::Client)
            .filter(move |p| p.country().eq_ignore_ascii_case(country))
    }

    /// The place called `name`.
    pub fn place(&self, name: &str) -> Result<&Place, UnknownPlace> {
        self.index
            .get(name)
            .and_then(|&i| self.places.get(i))
            .ok_or_else(|| UnknownPlace(name.to_owned()))
    }

    /// Great-circle distance in km.
    pub fn distance_km(&self, a: &str, b: &str) -> Result<f64, UnknownPlace> {
        Ok(self.place(a)?.distance_km(self.place(b)?))
    }

    /// The model's RTT in ms, ignoring any measurement.
    pub fn modelled_rtt_ms(&self, a: &str, b: &str) -> Result<f64, UnknownPlace> {
        Ok(self.model.rtt_ms(self.distance_km(a, b)?))
    }

    /// The speed-of-light-in-fibre floor in ms (see [`LatencyModel::floor_rtt_ms`]).
    pub fn floor_rtt_ms(&self, a: &str, b: &str) -> Result<f64, UnknownPlace> {
        Ok(self.model.floor_rtt_ms(self.distance_km(a, b)?))
    }

    /// RTT from `from` to `to`: the matrix's measurement of that direction, else of the
    /// reverse direction, else the model.
    pub fn rtt(&self, from: &str, to: &str) -> Result<RttEstimate, UnknownPlace> {
        let distance = self.distance_km(from, to)?;
        let measured = self.matrix.as_ref().and_then(|m| m.lookup(from, to));
        Ok(match measured {
            Some((ms, false)) => RttEstimate {
                ms,
                source: RttSource::Measured,
            },
            Some((ms, true)) => RttEstimate {
                ms,
                source: RttSource::MeasuredReverse,
            },
            None => RttEstimate {
                ms: self.model.rtt_ms(distance),
                source: RttSource::Model,
            },
        })
    }

    /// Of `candidates`, the one with the lowest RTT from `from` (the first on ties), with that
    /// RTT; `None` for no candidates. This is how the demo emulates anycast.
    pub fn nearest<'a, I>(
        &self,
        from: &str,
        candidates: I,
    ) -> Result<Option<(&Place, RttEstimate)>, UnknownPlace>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut best: Option<(&Place, RttEstimate)> = None;
        for name in candidates {
            let rtt = self.rtt(from, name)?;
            if best.is_none_or(|(_, b)| rtt.ms < b.ms) {
                best = Some((self.place(name)?, rtt));
            }
        }
        Ok(best)
    }

    /// The emulated link for a connection opened at `from` to a server at `to`: each direction
    /// gets half of [`World::rtt`]`(from, to)` as its one-way delay plus this world's link
    /// template. (An absurd measured RTT yields a link the relay refuses as invalid.)
    pub fn link(&self, from: &str, to: &str) -> Result<Link, UnknownPlace> {
        let one_way = self.rtt(from, to)?.one_way();
        Ok(Link::symmetric(LinkSpec {
            one_way,
            ..self.link_template.clone()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        let mut w = World::new(LatencyModel::default());
        for (n, k, c, lat, lon) in [
            ("eu-central", PlaceKind::Region, "DE", 50.1, 8.7),
            ("us-west", PlaceKind::Region, "US", 45.5, -123.0),
            ("Tokyo", PlaceKind::Client, "JP", 35.7, 139.7),
            ("Berlin", PlaceKind::Client, "DE", 52.5, 13.4),
        ] {
            w.add(Place::new(n, k, c, lat, lon).unwrap()).unwrap();
        }
        w
    }

    #[test]
    fn lookups_and_duplicates() {
        let mut w = world();
        assert_eq!(w.place("Tokyo").unwrap().country(), "JP");
        assert_eq!(w.place("tokyo"), Err(UnknownPlace("tokyo".into())));
        let dup = Place::new("Tokyo", PlaceKind::Client, "JP", 0.0, 0.0).unwrap();
        assert_eq!(w.add(dup), Err(DuplicatePlace("Tokyo".into())));
        let de: Vec<_> = w.clients_in("de").map(Place::name).collect();
        assert_eq!(de, ["Berlin"]);
        assert_eq!(w.places_of(PlaceKind::Region).count(), 2);
    }

    #[test]
    fn matrix_overrides_model_then_reverse_then_model() {
        let m = RttMatrix::from_csv_str("from,to,rtt_ms\nTokyo,us-west,99\n", "m.csv").unwrap();
        let w = world().with_matrix(m).unwrap();
        let fwd = w.rtt("Tokyo", "us-west").unwrap();
        assert_eq!((fwd.ms, fwd.source), (99.0, RttSource::Measured));
        let rev = w.rtt("us-west", "Tokyo").unwrap();
        assert_eq!((rev.ms, rev.source), (99.0, RttSource::MeasuredReverse));
        let model = w.rtt("Tokyo", "eu-central").unwrap();
        assert_eq!(model.source, RttSource::Model);
        assert_eq!(model.ms, w.modelled_rtt_ms("Tokyo", "eu-central").unwrap());
        assert!(model.ms > w.floor_rtt_ms("Tokyo", "eu-central").unwrap());
    }

    #[test]
    fn matrix_with_unknown_place_names_its_line() {
        let m = RttMatrix::from_csv_str("from,to,rtt_ms\nTokyo,us-west,9\nTokyo,Mars,1\n", "m.csv")
            .unwrap();
        let e = world().with_matrix(m).unwrap_err();
        assert_eq!(e.to_string(), "m.csv:3: unknown place `Mars`");
    }

    #[test]
    fn nearest_region_and_link() {
        let w = world().with_link_template(LinkSpec::default().with_loss(0.01));
        let (p, rtt) = w
            .nearest("Berlin", ["us-west", "eu-central"])
            .unwrap()
            .unwrap();
        assert_eq!(p.name(), "eu-central");
        let link = w.link("Berlin", "eu-central").unwrap();
        assert_eq!(link.rtt(), rtt.one_way() * 2);
        assert_eq!(link.forward.loss, 0.01);
        assert!(w.nearest("Berlin", []).unwrap().is_none());
        assert!(w.nearest("Berlin", ["Atlantis"]).is_err());
    }
}
