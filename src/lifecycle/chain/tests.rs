use super::*;

fn rules() -> ChainRules {
    ChainRules {
        block_seconds: 15,
        in_sync_blocks: 3,
        behind_blocks: 20,
        stall_after_secs: 600,
        confirmations: 2,
        min_version: Some(ClientVersion::parse("9.26.2").unwrap()),
    }
}

fn obs(at: u64, height: u64, network: u64) -> ChainObservation {
    ChainObservation {
        at,
        height,
        network_height: Some(network),
        version: None,
        layers: Vec::new(),
    }
}

fn with_version(mut o: ChainObservation, v: &str) -> ChainObservation {
    o.version = Some(ClientVersion::parse(v).unwrap());
    o
}

/// A tracker that has been confirmed in sync.
fn synced() -> ChainTracker {
    let mut t = ChainTracker::default();
    t.observe(&obs(0, 1000, 1000), &rules());
    assert_eq!(
        t.observe(&obs(60, 1004, 1004), &rules()),
        vec![ChainEvent::Synced { took_from: 0 }]
    );
    t
}

#[test]
fn versions_parse_compare_and_come_out_of_user_agents() {
    let v = |s| ClientVersion::parse(s).unwrap();
    assert!(v("9.26.3") > v("9.26.2"));
    assert!(v("9.26.1") < v("9.26.2"));
    assert!(v("10.0") > v("9.99.99"));
    assert_eq!(v("9.26"), v("9.26.0"));
    assert_eq!(v("v0.38.17").to_string(), "0.38.17");
    assert_eq!(v("22.1").to_string(), "22.1");
    for bad in ["", "x", "1..2", "1.2.3.4.5", "-1", "1.2a", "99999999999"] {
        assert!(ClientVersion::parse(bad).is_err(), "{bad}");
    }
    let ua = ClientVersion::from_user_agent;
    assert_eq!(ua("/Dash Core:22.1.0/"), Some(v("22.1.0")));
    assert_eq!(ua("/DigiByte:9.26.3(diginode)/"), Some(v("9.26.3")));
    assert_eq!(ua("/DigiByte:8.22.0/Wrapper:1.0/"), Some(v("8.22.0")));
    assert_eq!(ua("/Satoshi/"), None);
    assert_eq!(ua(""), None);
    let json = serde_json::to_string(&v("9.26.2")).unwrap();
    assert_eq!(json, "\"9.26.2\"");
    assert!(serde_json::from_str::<ClientVersion>("\"nine\"").is_err());
}

#[test]
fn progress_and_eta_from_the_measured_rate() {
    let r = rules();
    let mut t = ChainTracker::default();
    let first = obs(0, 0, 100_000);
    t.observe(&first, &r);
    // No rate from one reading.
    assert_eq!(
        t.view(&first, &r),
        SyncView::Syncing {
            permille: 0,
            eta_secs: None
        }
    );
    // 100 blocks/s while the tip gains 1/15 block/s: 49,994 blocks left at
    // 99.93 blocks/s net.
    let later = obs(500, 50_000, 99_994);
    t.observe(&later, &r);
    let SyncView::Syncing { permille, eta_secs } = t.view(&later, &r) else {
        panic!("syncing");
    };
    assert_eq!(permille, 500);
    assert_eq!(SyncView::percent(permille), "50.0%");
    let eta = eta_secs.unwrap();
    assert!((500..=501).contains(&eta), "{eta}");
    // Within in_sync_blocks is in sync; a node ahead of the tip too.
    assert_eq!(t.view(&obs(600, 99_991, 99_994), &r), SyncView::InSync);
    assert_eq!(t.view(&obs(600, 99_999, 99_994), &r), SyncView::InSync);
    let unknown = ChainObservation {
        network_height: None,
        ..obs(700, 5, 0)
    };
    assert_eq!(t.view(&unknown, &r), SyncView::Unknown);
    // One block behind a huge tip never rounds up to 100%.
    let almost = obs(800, 999_990, 1_000_000);
    assert!(matches!(
        t.view(&almost, &r),
        SyncView::Syncing { permille: 999, .. }
    ));
}

#[test]
fn a_node_losing_ground_has_no_eta() {
    let r = rules();
    let mut t = ChainTracker::default();
    t.observe(&obs(0, 100, 1000), &r);
    // 1 block in 60 s: slower than the tip's 4.
    let o = obs(60, 101, 1004);
    t.observe(&o, &r);
    assert!(matches!(
        t.view(&o, &r),
        SyncView::Syncing { eta_secs: None, .. }
    ));
}

#[test]
fn a_syncing_node_never_falls_behind_and_the_first_sync_is_said_once() {
    let r = rules();
    let mut t = ChainTracker::default();
    for i in 0..10 {
        assert_eq!(t.observe(&obs(i * 60, i * 5000, 100_000), &r), vec![]);
    }
    assert!(!t.episodes.ever_in_sync);
    assert_eq!(t.observe(&obs(600, 100_000, 100_002), &r), vec![]);
    assert_eq!(
        t.observe(&obs(660, 100_006, 100_006), &r),
        vec![ChainEvent::Synced { took_from: 0 }]
    );
    assert_eq!(t.observe(&obs(720, 100_010, 100_010), &r), vec![]);
}

#[test]
fn falling_behind_is_confirmed_raised_once_and_recovers_with_its_duration() {
    let r = rules();
    let mut t = synced();
    // One check behind is a blip.
    assert_eq!(t.observe(&obs(120, 1004, 1030), &r), vec![]);
    assert_eq!(t.observe(&obs(180, 1030, 1031), &r), vec![]);
    // Two in a row confirm, from the first.
    assert_eq!(t.observe(&obs(240, 1031, 1060), &r), vec![]);
    let fell = t.observe(&obs(300, 1032, 1070), &r);
    let episode = Episode {
        since: 240,
        height: 1032,
        lag: 38,
    };
    assert_eq!(fell, vec![ChainEvent::FellBehind(episode.clone())]);
    // Staying behind says nothing more.
    assert_eq!(t.observe(&obs(360, 1040, 1080), &r), vec![]);
    assert_eq!(t.observe(&obs(420, 1050, 1090), &r), vec![]);
    // Back within 3 blocks twice: back in sync, measured first to first.
    assert_eq!(t.observe(&obs(480, 1098, 1100), &r), vec![]);
    assert_eq!(
        t.observe(&obs(540, 1104, 1105), &r),
        vec![ChainEvent::BackInSync {
            episode,
            after: 240
        }]
    );
    assert_eq!(t.episodes.behind, None);
}

#[test]
fn a_node_hovering_between_in_sync_and_behind_does_not_flap() {
    let r = rules();
    let mut t = synced();
    // Lags of 4..19 blocks: neither in sync nor behind_blocks behind.
    for (i, lag) in [4u64, 19, 5, 18, 10, 4, 19, 3, 19, 2, 19]
        .iter()
        .enumerate()
    {
        let at = 120 + i as u64 * 60;
        let height = 2000 + i as u64 * 4;
        assert_eq!(t.observe(&obs(at, height, height + lag), &r), vec![], "{i}");
    }
    // Alternating behind and in sync never confirms either.
    for i in 0..10u64 {
        let lag = if i % 2 == 0 { 25 } else { 0 };
        let h = 3000 + i * 4;
        assert_eq!(t.observe(&obs(1000 + i * 60, h, h + lag), &r), vec![]);
    }
}

#[test]
fn a_stall_while_behind_is_raised_once_and_its_resume_too() {
    let r = rules();
    let mut t = ChainTracker::default();
    t.observe(&obs(0, 500, 10_000), &r);
    // Stuck at 500: nothing until 600 s have passed, then two checks.
    assert_eq!(t.observe(&obs(300, 500, 10_020), &r), vec![]);
    assert_eq!(t.observe(&obs(600, 500, 10_040), &r), vec![]);
    let stopped = t.observe(&obs(900, 500, 10_060), &r);
    let episode = Episode {
        since: 0,
        height: 500,
        lag: 9560,
    };
    assert_eq!(stopped, vec![ChainEvent::StoppedSyncing(episode.clone())]);
    for at in [1200, 1500, 1800] {
        assert_eq!(t.observe(&obs(at, 500, 10_100), &r), vec![]);
    }
    // One check moving is not enough; a second confirms.
    assert_eq!(t.observe(&obs(2100, 800, 10_120), &r), vec![]);
    assert_eq!(
        t.observe(&obs(2400, 1200, 10_140), &r),
        vec![ChainEvent::ResumedSyncing {
            episode,
            stalled_for: 2100
        }]
    );
    assert_eq!(t.episodes.stalled, None);
}

/// Polygon: Heimdall keeps up with its network while Bor stays at one
/// height far behind. The sum keeps moving, yet the node has stopped
/// syncing: the layer is what is watched, and the resume needs Bor to move.
#[test]
fn one_layer_stuck_while_the_other_moves_is_a_stall() {
    let r = rules();
    let mut t = ChainTracker::default();
    let layered = |at: u64, heimdall: u64, bor: u64| ChainObservation {
        at,
        height: heimdall + bor,
        network_height: Some(at / 2 + 1_000 + 90_000),
        version: None,
        layers: vec![(heimdall, Some(at / 2 + 1_000)), (bor, Some(90_000))],
    };
    assert_eq!(t.observe(&layered(0, 1_000, 500), &r), vec![]);
    assert_eq!(t.observe(&layered(300, 1_150, 500), &r), vec![]);
    assert_eq!(t.observe(&layered(600, 1_300, 500), &r), vec![]);
    let stopped = t.observe(&layered(900, 1_450, 500), &r);
    assert_eq!(
        stopped,
        vec![ChainEvent::StoppedSyncing(Episode {
            since: 0,
            height: 1_950,
            lag: 90_000 + 1_450 - 1_950,
        })],
        "the sum moved, Bor did not"
    );
    // Heimdall moving alone does not end it; Bor moving twice does.
    assert_eq!(t.observe(&layered(1200, 1_600, 500), &r), vec![]);
    assert_eq!(t.observe(&layered(1500, 1_750, 900), &r), vec![]);
    let resumed = t.observe(&layered(1800, 1_900, 1_400), &r);
    assert!(
        matches!(resumed.as_slice(), [ChainEvent::ResumedSyncing { .. }]),
        "{resumed:?}"
    );
    assert_eq!(t.episodes.stalled, None);
}

#[test]
fn an_in_sync_node_between_blocks_is_not_stalled() {
    // Dash: 2.5 min blocks, a check every minute; the height often stays.
    let r = ChainRules {
        block_seconds: 150,
        stall_after_secs: 120,
        ..rules()
    };
    let mut t = ChainTracker::default();
    for i in 0..30u64 {
        let h = 2_000_000 + i / 3;
        assert!(
            t.observe(&obs(i * 60, h, h + 1), &r)
                .iter()
                .all(|e| matches!(e, ChainEvent::Synced { .. })),
            "{i}"
        );
    }
    assert_eq!(t.episodes.stalled, None);
}

#[test]
fn a_stuck_height_after_falling_behind_raises_both_each_once() {
    let r = rules();
    let mut t = synced();
    let mut all = Vec::new();
    for i in 0..20u64 {
        all.extend(t.observe(&obs(120 + i * 60, 1004, 1010 + i * 4), &r));
    }
    let kinds: Vec<&str> = all
        .iter()
        .map(|e| match e {
            ChainEvent::FellBehind(_) => "behind",
            ChainEvent::StoppedSyncing(_) => "stalled",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["behind", "stalled"]);
}

#[test]
fn no_tip_is_no_evidence() {
    let r = rules();
    let mut t = synced();
    let blind = |at| ChainObservation {
        at,
        height: 1004,
        network_height: None,
        version: None,
        layers: Vec::new(),
    };
    for at in [120, 180, 240, 3000] {
        assert_eq!(t.observe(&blind(at), &r), vec![]);
    }
    // A behind reading between blind ones does not add up to two in a row.
    assert_eq!(t.observe(&obs(3060, 1004, 1100), &r), vec![]);
    assert_eq!(t.observe(&blind(3120), &r), vec![]);
    assert_eq!(t.observe(&obs(3180, 1004, 1100), &r), vec![]);
}

#[test]
fn an_old_client_is_confirmed_once_and_an_update_ends_it() {
    let r = rules();
    let mut t = synced();
    let old = |at| with_version(obs(at, 1004, 1004), "9.26.1");
    assert_eq!(t.observe(&old(120), &r), vec![]);
    assert_eq!(
        t.observe(&old(180), &r),
        vec![ChainEvent::ClientTooOld {
            version: ClientVersion::parse("9.26.1").unwrap(),
            min: ClientVersion::parse("9.26.2").unwrap(),
        }]
    );
    for at in [240, 300, 360] {
        assert_eq!(t.observe(&old(at), &r), vec![]);
    }
    // A reading without a version changes nothing.
    assert_eq!(t.observe(&obs(420, 1004, 1004), &r), vec![]);
    let new = |at| with_version(obs(at, 1004, 1004), "9.26.3");
    assert_eq!(t.observe(&new(480), &r), vec![]);
    assert_eq!(t.observe(&old(540), &r), vec![]);
    assert_eq!(t.observe(&new(600), &r), vec![]);
    assert_eq!(
        t.observe(&new(660), &r),
        vec![ChainEvent::ClientUpdated {
            version: ClientVersion::parse("9.26.3").unwrap()
        }]
    );
    // Without a minimum in the catalog, no version is too old.
    let mut free = ChainTracker::default();
    let none = ChainRules {
        min_version: None,
        ..rules()
    };
    for at in [0, 60, 120] {
        assert!(
            !free
                .observe(&with_version(obs(at, 10, 10), "0.1"), &none)
                .iter()
                .any(|e| matches!(e, ChainEvent::ClientTooOld { .. }))
        );
    }
}

#[test]
fn a_restart_keeps_the_episodes_and_raises_nothing_again() {
    let r = rules();
    let mut t = synced();
    t.observe(&obs(120, 1004, 1100), &r);
    t.observe(&obs(180, 1004, 1110), &r);
    let kept = t.episodes.clone();
    assert!(kept.behind.is_some());
    let json = serde_json::to_string(&kept).unwrap();
    let back: ChainEpisodes = serde_json::from_str(&json).unwrap();
    assert_eq!(back, kept);
    let mut restarted = ChainTracker::new(back);
    assert!(
        !restarted
            .observe(&obs(240, 1004, 1120), &r)
            .iter()
            .any(|e| matches!(e, ChainEvent::FellBehind(_)))
    );
    // An old record without chain fields reads as nothing known.
    let empty: ChainEpisodes = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, ChainEpisodes::default());
}
