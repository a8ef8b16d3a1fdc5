//! The built-in country table: every ISO 3166-1 alpha-2 code (249) plus `XK` (Kosovo).
//!
//! Where the data comes from, honestly:
//! - Codes and short names: the ISO 3166-1 alpha-2 list (the officially assigned codes; `XK`
//!   is the user-assigned code the EU, GeoNames, MaxMind and CDN country headers use for
//!   Kosovo).
//! - Continents: the GeoNames `countryInfo` convention (checked code by code against it),
//!   which MaxMind GeoIP2/GeoLite2 also follows closely. It puts Russia and Cyprus in EU;
//!   Turkey, Georgia, Armenia, Azerbaijan, Kazakhstan, Israel and Palestine in AS; Egypt in
//!   AF; the Caribbean, Central America, Panama, Greenland and Bermuda in NA; French Guiana
//!   and the Falklands in SA; Timor-Leste and the US Minor Outlying Islands in OC; Christmas
//!   Island, Cocos and the British Indian Ocean Territory in AS; the sub-Antarctic
//!   territories (BV, GS, HM, TF) in AN. Turkey is AS because that is what GeoNames and
//!   MaxMind return, so continent maps written against either agree with ours; a user who
//!   wants Turkish clients on a European region maps `TR` explicitly.
//! - Coordinates: written from general knowledge of capitals, large cities and population
//!   centres, rounded to 0.01°; not copied from any dataset and not surveyed, so trust them
//!   to roughly 0.1°. The point is where most people live, not the geometric centre: Moscow
//!   for Russia, the 2020 US Census mean centre of population (Missouri) for the US, Toronto
//!   for Canada, Sydney for Australia, São Paulo for Brazil, the populous east (Anhui/Henan)
//!   for China, Madhya Pradesh for India, Jakarta for Indonesia, Almaty for Kazakhstan, Lagos
//!   for Nigeria, Istanbul for Turkey, Ho Chi Minh City for Vietnam; the largest city where
//!   it clearly dominates, and the capital (or main settlement) elsewhere. Uninhabited
//!   territories get their research station or main island. The precision needed is "which
//!   region is nearest", so errors of tens of kilometres do not matter.
//!
//! The array is sorted by code (a test enforces it) so lookups can binary-search.

use crate::country::Continent::{self, AF, AN, AS, EU, NA, OC, SA};
use crate::country::{Country, CountryCode};

const fn c(
    code: &[u8; 2],
    name: &'static str,
    continent: Continent,
    lat: f64,
    lon: f64,
) -> Country {
    Country {
        code: CountryCode::from_table(*code),
        name,
        continent,
        lat,
        lon,
    }
}

/// Number of rows: 249 ISO codes plus `XK`.
pub(crate) const COUNTRY_COUNT: usize = 250;

pub(crate) static COUNTRIES: [Country; COUNTRY_COUNT] = [
    c(b"AD", "Andorra", EU, 42.51, 1.52),
    c(b"AE", "United Arab Emirates", AS, 25.20, 55.27),
    c(b"AF", "Afghanistan", AS, 34.53, 69.17),
    c(b"AG", "Antigua and Barbuda", NA, 17.12, -61.85),
    c(b"AI", "Anguilla", NA, 18.22, -63.05),
    c(b"AL", "Albania", EU, 41.33, 19.82),
    c(b"AM", "Armenia", AS, 40.18, 44.51),
    c(b"AO", "Angola", AF, -8.84, 13.23),
    c(b"AQ", "Antarctica", AN, -77.85, 166.67),
    c(b"AR", "Argentina", SA, -34.60, -58.38),
    c(b"AS", "American Samoa", OC, -14.28, -170.70),
    c(b"AT", "Austria", EU, 48.21, 16.37),
    c(b"AU", "Australia", OC, -33.87, 151.21),
    c(b"AW", "Aruba", NA, 12.52, -70.03),
    c(b"AX", "Åland Islands", EU, 60.10, 19.94),
    c(b"AZ", "Azerbaijan", AS, 40.41, 49.87),
    c(b"BA", "Bosnia and Herzegovina", EU, 43.86, 18.41),
    c(b"BB", "Barbados", NA, 13.10, -59.61),
    c(b"BD", "Bangladesh", AS, 23.81, 90.41),
    c(b"BE", "Belgium", EU, 50.85, 4.35),
    c(b"BF", "Burkina Faso", AF, 12.37, -1.52),
    c(b"BG", "Bulgaria", EU, 42.70, 23.32),
    c(b"BH", "Bahrain", AS, 26.23, 50.59),
    c(b"BI", "Burundi", AF, -3.38, 29.36),
    c(b"BJ", "Benin", AF, 6.37, 2.43),
    c(b"BL", "Saint Barthélemy", NA, 17.90, -62.85),
    c(b"BM", "Bermuda", NA, 32.29, -64.78),
    c(b"BN", "Brunei", AS, 4.90, 114.94),
    c(b"BO", "Bolivia", SA, -16.50, -68.15),
    c(b"BQ", "Caribbean Netherlands", NA, 12.15, -68.27),
    c(b"BR", "Brazil", SA, -23.55, -46.63),
    c(b"BS", "Bahamas", NA, 25.05, -77.35),
    c(b"BT", "Bhutan", AS, 27.47, 89.64),
    c(b"BV", "Bouvet Island", AN, -54.42, 3.36),
    c(b"BW", "Botswana", AF, -24.65, 25.91),
    c(b"BY", "Belarus", EU, 53.90, 27.57),
    c(b"BZ", "Belize", NA, 17.50, -88.20),
    c(b"CA", "Canada", NA, 43.65, -79.38),
    c(b"CC", "Cocos (Keeling) Islands", AS, -12.19, 96.83),
    c(b"CD", "DR Congo", AF, -4.32, 15.31),
    c(b"CF", "Central African Republic", AF, 4.39, 18.56),
    c(b"CG", "Congo", AF, -4.27, 15.28),
    c(b"CH", "Switzerland", EU, 47.37, 8.54),
    c(b"CI", "Côte d'Ivoire", AF, 5.36, -4.01),
    c(b"CK", "Cook Islands", OC, -21.21, -159.78),
    c(b"CL", "Chile", SA, -33.45, -70.67),
    c(b"CM", "Cameroon", AF, 3.87, 11.52),
    c(b"CN", "China", AS, 32.00, 115.00),
    c(b"CO", "Colombia", SA, 4.71, -74.07),
    c(b"CR", "Costa Rica", NA, 9.93, -84.08),
    c(b"CU", "Cuba", NA, 23.11, -82.37),
    c(b"CV", "Cabo Verde", AF, 14.93, -23.51),
    c(b"CW", "Curaçao", NA, 12.11, -68.93),
    c(b"CX", "Christmas Island", AS, -10.42, 105.68),
    c(b"CY", "Cyprus", EU, 35.17, 33.36),
    c(b"CZ", "Czechia", EU, 50.08, 14.44),
    c(b"DE", "Germany", EU, 50.90, 9.50),
    c(b"DJ", "Djibouti", AF, 11.59, 43.15),
    c(b"DK", "Denmark", EU, 55.68, 12.57),
    c(b"DM", "Dominica", NA, 15.30, -61.39),
    c(b"DO", "Dominican Republic", NA, 18.49, -69.93),
    c(b"DZ", "Algeria", AF, 36.75, 3.06),
    c(b"EC", "Ecuador", SA, -0.18, -78.47),
    c(b"EE", "Estonia", EU, 59.44, 24.75),
    c(b"EG", "Egypt", AF, 30.04, 31.24),
    c(b"EH", "Western Sahara", AF, 27.15, -13.20),
    c(b"ER", "Eritrea", AF, 15.32, 38.93),
    c(b"ES", "Spain", EU, 40.42, -3.70),
    c(b"ET", "Ethiopia", AF, 9.03, 38.74),
    c(b"FI", "Finland", EU, 60.17, 24.94),
    c(b"FJ", "Fiji", OC, -18.14, 178.44),
    c(b"FK", "Falkland Islands", SA, -51.70, -57.85),
    c(b"FM", "Micronesia", OC, 6.92, 158.16),
    c(b"FO", "Faroe Islands", EU, 62.01, -6.77),
    c(b"FR", "France", EU, 48.86, 2.35),
    c(b"GA", "Gabon", AF, 0.39, 9.45),
    c(b"GB", "United Kingdom", EU, 51.51, -0.13),
    c(b"GD", "Grenada", NA, 12.06, -61.75),
    c(b"GE", "Georgia", AS, 41.72, 44.79),
    c(b"GF", "French Guiana", SA, 4.92, -52.33),
    c(b"GG", "Guernsey", EU, 49.46, -2.54),
    c(b"GH", "Ghana", AF, 5.60, -0.19),
    c(b"GI", "Gibraltar", EU, 36.14, -5.35),
    c(b"GL", "Greenland", NA, 64.18, -51.72),
    c(b"GM", "Gambia", AF, 13.45, -16.58),
    c(b"GN", "Guinea", AF, 9.64, -13.58),
    c(b"GP", "Guadeloupe", NA, 16.24, -61.53),
    c(b"GQ", "Equatorial Guinea", AF, 3.75, 8.78),
    c(b"GR", "Greece", EU, 37.98, 23.73),
    c(
        b"GS",
        "South Georgia and the South Sandwich Islands",
        AN,
        -54.28,
        -36.51,
    ),
    c(b"GT", "Guatemala", NA, 14.63, -90.51),
    c(b"GU", "Guam", OC, 13.48, 144.75),
    c(b"GW", "Guinea-Bissau", AF, 11.86, -15.60),
    c(b"GY", "Guyana", SA, 6.80, -58.16),
    c(b"HK", "Hong Kong", AS, 22.32, 114.17),
    c(
        b"HM",
        "Heard Island and McDonald Islands",
        AN,
        -53.08,
        73.50,
    ),
    c(b"HN", "Honduras", NA, 14.07, -87.19),
    c(b"HR", "Croatia", EU, 45.81, 15.98),
    c(b"HT", "Haiti", NA, 18.54, -72.34),
    c(b"HU", "Hungary", EU, 47.50, 19.04),
    c(b"ID", "Indonesia", AS, -6.21, 106.85),
    c(b"IE", "Ireland", EU, 53.35, -6.26),
    c(b"IL", "Israel", AS, 32.09, 34.78),
    c(b"IM", "Isle of Man", EU, 54.15, -4.48),
    c(b"IN", "India", AS, 23.00, 78.50),
    c(b"IO", "British Indian Ocean Territory", AS, -7.31, 72.41),
    c(b"IQ", "Iraq", AS, 33.31, 44.36),
    c(b"IR", "Iran", AS, 35.69, 51.39),
    c(b"IS", "Iceland", EU, 64.15, -21.94),
    c(b"IT", "Italy", EU, 41.90, 12.50),
    c(b"JE", "Jersey", EU, 49.19, -2.11),
    c(b"JM", "Jamaica", NA, 18.02, -76.80),
    c(b"JO", "Jordan", AS, 31.95, 35.93),
    c(b"JP", "Japan", AS, 35.68, 139.69),
    c(b"KE", "Kenya", AF, -1.29, 36.82),
    c(b"KG", "Kyrgyzstan", AS, 42.87, 74.59),
    c(b"KH", "Cambodia", AS, 11.56, 104.92),
    c(b"KI", "Kiribati", OC, 1.33, 172.98),
    c(b"KM", "Comoros", AF, -11.70, 43.26),
    c(b"KN", "Saint Kitts and Nevis", NA, 17.30, -62.72),
    c(b"KP", "North Korea", AS, 39.04, 125.76),
    c(b"KR", "South Korea", AS, 37.57, 126.98),
    c(b"KW", "Kuwait", AS, 29.38, 47.99),
    c(b"KY", "Cayman Islands", NA, 19.29, -81.37),
    c(b"KZ", "Kazakhstan", AS, 43.24, 76.89),
    c(b"LA", "Laos", AS, 17.98, 102.63),
    c(b"LB", "Lebanon", AS, 33.89, 35.50),
    c(b"LC", "Saint Lucia", NA, 14.01, -60.99),
    c(b"LI", "Liechtenstein", EU, 47.14, 9.52),
    c(b"LK", "Sri Lanka", AS, 6.93, 79.86),
    c(b"LR", "Liberia", AF, 6.30, -10.80),
    c(b"LS", "Lesotho", AF, -29.31, 27.48),
    c(b"LT", "Lithuania", EU, 54.69, 25.28),
    c(b"LU", "Luxembourg", EU, 49.61, 6.13),
    c(b"LV", "Latvia", EU, 56.95, 24.11),
    c(b"LY", "Libya", AF, 32.89, 13.19),
    c(b"MA", "Morocco", AF, 33.57, -7.59),
    c(b"MC", "Monaco", EU, 43.74, 7.42),
    c(b"MD", "Moldova", EU, 47.01, 28.86),
    c(b"ME", "Montenegro", EU, 42.44, 19.26),
    c(b"MF", "Saint Martin", NA, 18.07, -63.08),
    c(b"MG", "Madagascar", AF, -18.88, 47.51),
    c(b"MH", "Marshall Islands", OC, 7.09, 171.38),
    c(b"MK", "North Macedonia", EU, 42.00, 21.43),
    c(b"ML", "Mali", AF, 12.64, -8.00),
    c(b"MM", "Myanmar", AS, 16.87, 96.20),
    c(b"MN", "Mongolia", AS, 47.89, 106.91),
    c(b"MO", "Macao", AS, 22.20, 113.54),
    c(b"MP", "Northern Mariana Islands", OC, 15.18, 145.75),
    c(b"MQ", "Martinique", NA, 14.61, -61.07),
    c(b"MR", "Mauritania", AF, 18.08, -15.98),
    c(b"MS", "Montserrat", NA, 16.79, -62.21),
    c(b"MT", "Malta", EU, 35.90, 14.51),
    c(b"MU", "Mauritius", AF, -20.16, 57.50),
    c(b"MV", "Maldives", AS, 4.18, 73.51),
    c(b"MW", "Malawi", AF, -13.96, 33.79),
    c(b"MX", "Mexico", NA, 19.43, -99.13),
    c(b"MY", "Malaysia", AS, 3.15, 101.69),
    c(b"MZ", "Mozambique", AF, -25.97, 32.57),
    c(b"NA", "Namibia", AF, -22.56, 17.08),
    c(b"NC", "New Caledonia", OC, -22.28, 166.46),
    c(b"NE", "Niger", AF, 13.51, 2.11),
    c(b"NF", "Norfolk Island", OC, -29.06, 167.96),
    c(b"NG", "Nigeria", AF, 6.52, 3.38),
    c(b"NI", "Nicaragua", NA, 12.11, -86.24),
    c(b"NL", "Netherlands", EU, 52.37, 4.90),
    c(b"NO", "Norway", EU, 59.91, 10.75),
    c(b"NP", "Nepal", AS, 27.72, 85.32),
    c(b"NR", "Nauru", OC, -0.55, 166.92),
    c(b"NU", "Niue", OC, -19.06, -169.92),
    c(b"NZ", "New Zealand", OC, -36.85, 174.76),
    c(b"OM", "Oman", AS, 23.59, 58.41),
    c(b"PA", "Panama", NA, 8.98, -79.52),
    c(b"PE", "Peru", SA, -12.05, -77.04),
    c(b"PF", "French Polynesia", OC, -17.54, -149.57),
    c(b"PG", "Papua New Guinea", OC, -9.44, 147.18),
    c(b"PH", "Philippines", AS, 14.60, 120.98),
    c(b"PK", "Pakistan", AS, 31.55, 74.34),
    c(b"PL", "Poland", EU, 52.23, 21.01),
    c(b"PM", "Saint Pierre and Miquelon", NA, 46.78, -56.18),
    c(b"PN", "Pitcairn Islands", OC, -25.07, -130.10),
    c(b"PR", "Puerto Rico", NA, 18.47, -66.11),
    c(b"PS", "Palestine", AS, 31.90, 35.20),
    c(b"PT", "Portugal", EU, 38.72, -9.14),
    c(b"PW", "Palau", OC, 7.34, 134.48),
    c(b"PY", "Paraguay", SA, -25.26, -57.58),
    c(b"QA", "Qatar", AS, 25.29, 51.53),
    c(b"RE", "Réunion", AF, -20.88, 55.45),
    c(b"RO", "Romania", EU, 44.43, 26.10),
    c(b"RS", "Serbia", EU, 44.79, 20.45),
    c(b"RU", "Russia", EU, 55.76, 37.62),
    c(b"RW", "Rwanda", AF, -1.95, 30.06),
    c(b"SA", "Saudi Arabia", AS, 24.71, 46.68),
    c(b"SB", "Solomon Islands", OC, -9.43, 159.95),
    c(b"SC", "Seychelles", AF, -4.62, 55.45),
    c(b"SD", "Sudan", AF, 15.50, 32.56),
    c(b"SE", "Sweden", EU, 59.33, 18.07),
    c(b"SG", "Singapore", AS, 1.35, 103.82),
    c(
        b"SH",
        "Saint Helena, Ascension and Tristan da Cunha",
        AF,
        -15.92,
        -5.72,
    ),
    c(b"SI", "Slovenia", EU, 46.06, 14.51),
    c(b"SJ", "Svalbard and Jan Mayen", EU, 78.22, 15.65),
    c(b"SK", "Slovakia", EU, 48.15, 17.11),
    c(b"SL", "Sierra Leone", AF, 8.48, -13.23),
    c(b"SM", "San Marino", EU, 43.94, 12.45),
    c(b"SN", "Senegal", AF, 14.72, -17.47),
    c(b"SO", "Somalia", AF, 2.05, 45.32),
    c(b"SR", "Suriname", SA, 5.85, -55.20),
    c(b"SS", "South Sudan", AF, 4.85, 31.58),
    c(b"ST", "São Tomé and Príncipe", AF, 0.34, 6.73),
    c(b"SV", "El Salvador", NA, 13.69, -89.22),
    c(b"SX", "Sint Maarten", NA, 18.03, -63.05),
    c(b"SY", "Syria", AS, 33.51, 36.29),
    c(b"SZ", "Eswatini", AF, -26.31, 31.14),
    c(b"TC", "Turks and Caicos Islands", NA, 21.78, -72.27),
    c(b"TD", "Chad", AF, 12.13, 15.06),
    c(b"TF", "French Southern Territories", AN, -49.35, 70.22),
    c(b"TG", "Togo", AF, 6.13, 1.22),
    c(b"TH", "Thailand", AS, 13.76, 100.50),
    c(b"TJ", "Tajikistan", AS, 38.56, 68.77),
    c(b"TK", "Tokelau", OC, -9.38, -171.22),
    c(b"TL", "Timor-Leste", OC, -8.56, 125.57),
    c(b"TM", "Turkmenistan", AS, 37.96, 58.33),
    c(b"TN", "Tunisia", AF, 36.81, 10.18),
    c(b"TO", "Tonga", OC, -21.14, -175.20),
    c(b"TR", "Türkiye", AS, 41.01, 28.98),
    c(b"TT", "Trinidad and Tobago", NA, 10.65, -61.52),
    c(b"TV", "Tuvalu", OC, -8.52, 179.20),
    c(b"TW", "Taiwan", AS, 25.03, 121.57),
    c(b"TZ", "Tanzania", AF, -6.79, 39.21),
    c(b"UA", "Ukraine", EU, 50.45, 30.52),
    c(b"UG", "Uganda", AF, 0.35, 32.58),
    c(
        b"UM",
        "United States Minor Outlying Islands",
        OC,
        19.28,
        166.65,
    ),
    c(b"US", "United States", NA, 37.42, -92.17),
    c(b"UY", "Uruguay", SA, -34.90, -56.16),
    c(b"UZ", "Uzbekistan", AS, 41.30, 69.24),
    c(b"VA", "Vatican City", EU, 41.90, 12.45),
    c(b"VC", "Saint Vincent and the Grenadines", NA, 13.16, -61.23),
    c(b"VE", "Venezuela", SA, 10.48, -66.90),
    c(b"VG", "British Virgin Islands", NA, 18.43, -64.62),
    c(b"VI", "U.S. Virgin Islands", NA, 18.34, -64.93),
    c(b"VN", "Vietnam", AS, 10.82, 106.63),
    c(b"VU", "Vanuatu", OC, -17.73, 168.32),
    c(b"WF", "Wallis and Futuna", OC, -13.28, -176.17),
    c(b"WS", "Samoa", OC, -13.83, -171.76),
    c(b"XK", "Kosovo", EU, 42.66, 21.17),
    c(b"YE", "Yemen", AS, 15.37, 44.19),
    c(b"YT", "Mayotte", AF, -12.78, 45.23),
    c(b"ZA", "South Africa", AF, -26.20, 28.05),
    c(b"ZM", "Zambia", AF, -15.39, 28.32),
    c(b"ZW", "Zimbabwe", AF, -17.83, 31.05),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::country::{countries, country_by_str};
    use std::collections::BTreeSet;

    // The officially assigned ISO 3166-1 alpha-2 codes, typed independently of the table so
    // a typo in either shows up as a difference.
    const ISO_3166_1_ALPHA2: &str = "\
        AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
        BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
        CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
        DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
        GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
        HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
        KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY \
        MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
        NA NC NE NF NG NI NL NO NP NR NU NZ OM \
        PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
        SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
        TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
        VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

    #[test]
    fn table_has_exactly_the_iso_codes_plus_kosovo() {
        let iso: BTreeSet<&str> = ISO_3166_1_ALPHA2.split_whitespace().collect();
        assert_eq!(iso.len(), 249);
        let table: BTreeSet<&str> = countries().iter().map(|c| c.code.as_str()).collect();
        assert_eq!(table.len(), 250, "codes must be unique");
        let mut expected = iso.clone();
        expected.insert("XK");
        assert_eq!(table, expected);
    }

    #[test]
    fn table_is_sorted_and_well_formed() {
        assert!(COUNTRIES.windows(2).all(|w| w[0].code < w[1].code));
        for c in countries() {
            let code = c.code.as_str().as_bytes();
            assert!(code.iter().all(u8::is_ascii_uppercase), "{:?}", c.code);
            assert!(!c.name.is_empty());
            assert!((-90.0..=90.0).contains(&c.lat), "{} lat {}", c.name, c.lat);
            assert!(
                (-180.0..=180.0).contains(&c.lon),
                "{} lon {}",
                c.name,
                c.lon
            );
            assert!(
                c.lat != 0.0 || c.lon != 0.0,
                "{} has no coordinates",
                c.name
            );
        }
    }

    #[test]
    fn every_continent_is_used() {
        let used: BTreeSet<Continent> = countries().iter().map(|c| c.continent).collect();
        assert_eq!(used.len(), 7);
    }

    fn get(code: &str) -> &'static Country {
        country_by_str(code).unwrap_or_else(|| panic!("{code} missing"))
    }

    #[test]
    fn spot_checks() {
        let ru = get("RU");
        assert_eq!(ru.continent, EU);
        assert!((30.0..50.0).contains(&ru.lon) && (50.0..60.0).contains(&ru.lat));
        let us = get("US");
        assert_eq!(us.continent, NA);
        assert!((30.0..45.0).contains(&us.lat) && (-100.0..-70.0).contains(&us.lon));
        let jp = get("JP");
        assert_eq!(jp.continent, AS);
        assert!((33.0..37.0).contains(&jp.lat) && (135.0..141.0).contains(&jp.lon));
        let de = get("DE");
        assert_eq!(de.continent, EU);
        assert!((48.0..54.0).contains(&de.lat) && (6.0..14.0).contains(&de.lon));
        let br = get("BR");
        assert_eq!(br.continent, SA);
        assert!(br.lat < -15.0 && br.lon > -50.0);
        let cn = get("CN");
        assert_eq!(cn.continent, AS);
        assert!(cn.lon > 105.0, "populous east");
        let au = get("AU");
        assert_eq!(au.continent, OC);
        assert!(au.lon > 140.0 && au.lat < -30.0, "south-east coast");
        assert!(
            (-80.0..-70.0).contains(&get("CA").lon),
            "Toronto, not the Arctic"
        );
        assert_eq!(get("XK").continent, EU);
        assert_eq!(get("AQ").continent, AN);
        assert_eq!(get("TR").continent, AS);
        assert_eq!(get("EG").continent, AF);
        assert_eq!(get("PA").continent, NA);
        assert_eq!(get("JM").continent, NA);
        assert_eq!(get("GL").continent, NA);
        assert_eq!(get("CY").continent, EU);
        assert_eq!(get("NZ").continent, OC);
    }
}
