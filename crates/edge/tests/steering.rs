//! Country → origin for each steering policy, through a real node and real origins.
#![allow(clippy::unwrap_used)]
mod common;
use common::*;

const TRUST_LOCAL: &str = "[client_location]\ntrusted_proxies = [\"127.0.0.1/32\"]\n";

#[tokio::test]
async fn geo_policy_maps_countries_and_continents_with_cn_override() {
    let eu = Origin::start("fra").await;
    let us = Origin::start("hio").await;
    let site = two_region_site(&eu, &us, "policy = \"geo\"\n[sites.geo]\ncountries = { CN = \"us-west\" }\ncontinents = { NA = \"us-west\", EU = \"eu-central\" }\n");
    let node = start_node(&node_toml("eu-central", TRUST_LOCAL, &site)).await;
    for (country, want) in [
        ("US", "hio"),
        ("DE", "fra"),
        ("CN", "hio"),
        ("FR", "fra"),
        ("CA", "hio"),
    ] {
        let r = get(&node, "shop.test", "/", &[("cf-ipcountry", country)]).await;
        assert_eq!(r.status, 200, "{country}");
        assert_eq!(r.origin(), want, "country {country}");
        assert_eq!(
            r.header("x-origin").unwrap(),
            format!(
                "{want}@{}",
                if want == "hio" {
                    "us-west"
                } else {
                    "eu-central"
                }
            )
        );
        assert_eq!(r.header("x-served-by").unwrap(), "eu-central");
    }
    // Unknown country (XX, T1, missing) → the site's default region.
    for h in [
        vec![("cf-ipcountry", "XX")],
        vec![("cf-ipcountry", "T1")],
        vec![],
    ] {
        assert_eq!(get(&node, "shop.test", "/", &h).await.origin(), "fra");
    }
}

#[tokio::test]
async fn geo_policy_without_mapping_falls_back_to_proximity() {
    let eu = Origin::start("fra").await;
    let us = Origin::start("hio").await;
    let site = two_region_site(&eu, &us, "policy = \"geo\"\n");
    let node = start_node(&node_toml("eu-central", TRUST_LOCAL, &site)).await;
    assert_eq!(
        get(&node, "shop.test", "/", &[("cf-ipcountry", "JP")])
            .await
            .origin(),
        "hio"
    );
    assert_eq!(
        get(&node, "shop.test", "/", &[("cf-ipcountry", "MX")])
            .await
            .origin(),
        "hio"
    );
    assert_eq!(
        get(&node, "shop.test", "/", &[("cf-ipcountry", "NG")])
            .await
            .origin(),
        "fra"
    );
    assert_eq!(
        get(&node, "shop.test", "/", &[("cf-ipcountry", "IN")])
            .await
            .origin(),
        "fra"
    );
}

#[tokio::test]
async fn proximity_policy_uses_great_circle_distance() {
    let eu = Origin::start("fra").await;
    let us = Origin::start("hio").await;
    let site = two_region_site(&eu, &us, "policy = \"proximity\"\n");
    let node = start_node(&node_toml("us-west", TRUST_LOCAL, &site)).await;
    // São Paulo is nearer Frankfurt (~9,800 km) than Hillsboro (~10,900 km): distance, not continent, decides.
    assert_eq!(
        get(&node, "shop.test", "/", &[("cf-ipcountry", "BR")])
            .await
            .origin(),
        "fra"
    );
    assert_eq!(
        get(&node, "shop.test", "/", &[("cf-ipcountry", "MX")])
            .await
            .origin(),
        "hio"
    );
    assert_eq!(
        get(&node, "shop.test", "/", &[("cf-ipcountry", "RU")])
            .await
            .origin(),
        "fra"
    );
    assert_eq!(
        get(&node, "shop.test", "/", &[("cf-ipcountry", "AU")])
            .await
            .origin(),
        "hio"
    );
    assert_eq!(
        get(&node, "shop.test", "/", &[("cf-ipcountry", "ZA")])
            .await
            .origin(),
        "fra"
    );
}

#[tokio::test]
async fn failover_policy_uses_config_order() {
    let eu = Origin::start("fra").await;
    let us = Origin::start("hio").await;
    let site = two_region_site(&eu, &us, "policy = \"failover\"\n");
    let node = start_node(&node_toml("us-west", TRUST_LOCAL, &site)).await;
    for c in ["US", "JP", "DE"] {
        assert_eq!(
            get(&node, "shop.test", "/", &[("cf-ipcountry", c)])
                .await
                .origin(),
            "fra"
        );
    }
    eu.kill();
    assert_eq!(
        get(&node, "shop.test", "/", &[("cf-ipcountry", "DE")])
            .await
            .origin(),
        "hio"
    );
}

#[tokio::test]
async fn latency_policy_warms_up_on_proximity_then_prefers_the_fastest() {
    let eu = Origin::start("fra").await;
    let us = Origin::start("hio").await;
    us.set_mode(Mode::Stall(std::time::Duration::from_millis(40)));
    let site = two_region_site(
        &eu,
        &us,
        "policy = \"latency\"\nlatency_warmup_samples = 3\n",
    );
    let node = start_node(&node_toml("us-west", TRUST_LOCAL, &site)).await;
    let first = get(&node, "shop.test", "/", &[("cf-ipcountry", "US")]).await;
    assert_eq!(
        first.origin(),
        "hio",
        "before warm-up a US client goes to the nearest origin"
    );
    for _ in 0..10 {
        get(&node, "shop.test", "/", &[("cf-ipcountry", "DE")]).await;
        get(&node, "shop.test", "/", &[("cf-ipcountry", "US")]).await;
    }
    // hio now carries an EWMA of ~40 ms against fra's ~1 ms.
    let after = get(&node, "shop.test", "/", &[("cf-ipcountry", "US")]).await;
    assert_eq!(
        after.origin(),
        "fra",
        "after warm-up the lower-latency origin wins"
    );
}

#[tokio::test]
async fn country_header_is_only_believed_from_trusted_proxies() {
    let eu = Origin::start("fra").await;
    let us = Origin::start("hio").await;
    let site = two_region_site(&eu, &us, "policy = \"geo\"\n");
    // Nobody trusted: the header is ignored and stripped, the client is unknown → default.
    let node = start_node(&node_toml("eu-central", "", &site)).await;
    let r = get(&node, "shop.test", "/", &[("cf-ipcountry", "US")]).await;
    assert_eq!(r.origin(), "fra");
    let seen = &r.json()["headers"];
    assert!(
        seen.get("cf-ipcountry").is_none(),
        "untrusted country header must not reach the origin"
    );
    assert_eq!(seen["country-code"][0], "XX");
}

#[tokio::test]
async fn geoip_database_locates_the_rightmost_untrusted_forwarded_address() {
    let eu = Origin::start("fra").await;
    let us = Origin::start("hio").await;
    let site = two_region_site(&eu, &us, "policy = \"geo\"\n");
    let db = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../geo/testdata/iptoasn-country.mmdb"
    );
    let extra = format!("[client_location]\ntrusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\"]\ncountry_header = \"\"\ngeoip_database = \"{db}\"\n");
    let node = start_node(&node_toml("eu-central", &extra, &site)).await;
    // 133.242.0.1 is JP → us-west; the 10.x hop is trusted and skipped; the left-most entry
    // (client-supplied, spoofable) is not the one used.
    let r = get(
        &node,
        "shop.test",
        "/",
        &[("x-forwarded-for", "159.69.27.1, 133.242.0.1, 10.1.2.3")],
    )
    .await;
    assert_eq!(r.origin(), "hio");
    assert_eq!(r.json()["headers"]["country-code"][0], "JP");
    let r = get(
        &node,
        "shop.test",
        "/",
        &[("x-forwarded-for", "133.242.0.1, 159.69.27.1")],
    )
    .await;
    assert_eq!(r.origin(), "fra");
    assert_eq!(r.json()["headers"]["country-code"][0], "DE");
    // The forwarded chain gets the peer appended.
    assert_eq!(
        r.json()["headers"]["x-forwarded-for"][0],
        "133.242.0.1, 159.69.27.1, 127.0.0.1"
    );
}

#[tokio::test]
async fn weights_split_traffic_within_a_region_and_backups_wait() {
    let a = Origin::start("a").await;
    let b = Origin::start("b").await;
    let backup = Origin::start("backup").await;
    let site = format!(
        "[[sites]]\nname = \"w\"\nhosts = [\"w.test\"]\npolicy = \"proximity\"\n\
         [[sites.origins]]\nname = \"a\"\nurl = \"{}\"\nregion = \"eu-central\"\nweight = 3\n\
         [[sites.origins]]\nname = \"b\"\nurl = \"{}\"\nregion = \"eu-central\"\nweight = 1\n\
         [[sites.origins]]\nname = \"backup\"\nurl = \"{}\"\nregion = \"eu-central\"\nbackup = true\n",
        a.url(), b.url(), backup.url()
    );
    let node = start_node(&node_toml("eu-central", "", &site)).await;
    // 400 draws: a 3:1 split then fails `ha > 2 hb` about once in 25,000 runs (b's share
    // would have to be 3.9 standard deviations above its mean); with 200, once in ~370.
    for _ in 0..400 {
        assert_eq!(get(&node, "w.test", "/", &[]).await.status, 200);
    }
    let (ha, hb) = (a.hits(), b.hits());
    assert_eq!(backup.hits(), 0);
    assert!(ha > hb * 2 && hb > 40, "3:1 weights gave {ha}:{hb}");
    a.kill();
    b.kill();
    assert_eq!(get(&node, "w.test", "/", &[]).await.origin(), "backup");
}
