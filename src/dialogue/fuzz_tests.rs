//! Property tests: no input, in any state, makes the engine panic, and every
//! button it offers fits Telegram's 64-byte callback data.

use proptest::prelude::*;

use super::{Engine, Env, Input, Loaded};
use crate::catalog::Catalog;
use crate::dialogue::{Conversation, Effect, Scripts};
use crate::model::{CountryOption, FarmOption, Locations};
use crate::money::Tft;
use crate::pricing::PriceList;

fn engine() -> Engine {
    let catalog = Catalog::parse("catalog.yaml", include_str!("../../dialogues/catalog.yaml"))
        .expect("catalog");
    let files = vec![
        (
            "deploy.yaml".to_owned(),
            include_str!("../../dialogues/deploy.yaml").to_owned(),
        ),
        (
            "manage.yaml".to_owned(),
            include_str!("../../dialogues/manage.yaml").to_owned(),
        ),
    ];
    let scripts = Scripts::compile(&files, &catalog).expect("scripts");
    Engine::new(scripts, catalog, PriceList::default(), 10, 86_400)
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        any::<String>().prop_map(Input::Text),
        "[0-9]{1,3}".prop_map(Input::Text),
        "[0-9]{1,2}:(c[0-9]{1,2}|b|x|s|zz)".prop_map(Input::Button),
        any::<String>().prop_map(Input::Button),
        prop::sample::select(vec![
            "deploy", "cancel", "list", "status", "delete", "redeploy", "help", "nope"
        ])
        .prop_map(|n| Input::Command {
            name: n.to_owned(),
            arg: None
        }),
        Just(Input::Loaded(Loaded::Locations(Locations {
            countries: vec![CountryOption {
                name: "Belgium".into(),
                nodes: 3
            }],
            farms: vec![FarmOption {
                id: 7,
                name: "Freefarm".into(),
                country: "Belgium".into(),
                nodes: 3
            }],
        }))),
        Just(Input::Loaded(Loaded::Locations(Locations::default()))),
        Just(Input::Loaded(Loaded::Failed("down".into()))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn no_input_sequence_panics(inputs in prop::collection::vec(input(), 1..40)) {
        let engine = engine();
        let mut state = Conversation::default();
        let env = Env { balance: Tft::from_whole(50), burn_per_hour: Tft::from_whole(1), nodes: &[] };
        for (i, input) in inputs.into_iter().enumerate() {
            // Buttons are pressed with the current question number half the time.
            let input = match input {
                Input::Button(data) if i % 2 == 0 => Input::Button(
                    data.split_once(':').map(|(_, c)| format!("{}:{c}", state.seq)).unwrap_or(data),
                ),
                other => other,
            };
            let (next, effects) = engine.step(&state, input, &env, 1_000 + i as u64);
            for effect in &effects {
                if let Effect::Send(m) = effect {
                    for b in m.buttons.iter().flatten() {
                        prop_assert!(!b.data.is_empty() && b.data.len() <= 64);
                    }
                }
            }
            state = next;
        }
    }
}
