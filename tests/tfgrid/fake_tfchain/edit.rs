//! What `jukebox grid doctor`'s tests change in the fake chain: a runtime
//! that lacks a call Jukebox makes, and the twins as the relay reads them.

use ed25519_dalek::VerifyingKey;
use scale_info::TypeDef;
use subxt::Metadata;
use subxt::ext::codec::{Decode as _, Encode as _};
use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};

use super::FakeTfchain;

impl FakeTfchain {
    /// From now on, serves a runtime whose `pallet` has no call `call`
    /// (clients connecting later see it; one connected keeps its copy).
    pub fn without_call(&self, pallet: &str, call: &str) {
        let mut c = self.world();
        let mut prefixed = RuntimeMetadataPrefixed::decode(&mut &c.metadata_bytes[..]).unwrap();
        let RuntimeMetadata::V14(m) = &mut prefixed.1 else {
            panic!("the bundled metadata is V14");
        };
        let calls_ty = m
            .pallets
            .iter()
            .find(|p| p.name == pallet)
            .and_then(|p| p.calls.as_ref())
            .unwrap_or_else(|| panic!("{pallet} has no calls"))
            .ty
            .id;
        let ty = m.types.types.iter_mut().find(|t| t.id == calls_ty).unwrap();
        let TypeDef::Variant(calls) = &mut ty.ty.type_def else {
            panic!("pallet calls are a variant");
        };
        let before = calls.variants.len();
        calls.variants.retain(|v| v.name != call);
        assert_eq!(
            calls.variants.len() + 1,
            before,
            "{pallet} has no call {call}"
        );
        let bytes = prefixed.encode();
        c.metadata = Metadata::decode_from(&bytes[..]).unwrap();
        c.metadata_bytes = bytes;
    }

    /// A twin's key as stored on this chain, for the fake relay.
    pub fn twin_lookup(&self) -> impl Fn(u32) -> Option<VerifyingKey> + Send + Sync + 'static {
        let chain = self.chain.clone();
        move |id| {
            let c = chain.lock().unwrap();
            let (account, _) = c.world.twins.get(&id)?;
            VerifyingKey::from_bytes(account).ok()
        }
    }
}
