//! How `subxt` sees an OPG chain: Substrate's defaults with an address that carries no account
//! index (`MultiAddress<AccountId32, ()>`, as the runtime defines it).

use subxt::{
	config::{
		substrate::{MultiAddress, SubstrateConfig},
		Config, DefaultTransactionExtensions,
	},
	metadata::ArcMetadata,
};

/// The chain configuration the client is built for.
#[derive(Debug, Clone, Default)]
pub struct OpgConfig(SubstrateConfig);

impl Config for OpgConfig {
	type AccountId = <SubstrateConfig as Config>::AccountId;
	type Signature = <SubstrateConfig as Config>::Signature;
	type Hasher = <SubstrateConfig as Config>::Hasher;
	type Header = <SubstrateConfig as Config>::Header;
	type AssetId = <SubstrateConfig as Config>::AssetId;
	type Address = MultiAddress<Self::AccountId, ()>;
	type TransactionExtensions = DefaultTransactionExtensions<Self>;

	fn metadata_for_spec_version(&self, spec_version: u32) -> Option<ArcMetadata> {
		self.0.metadata_for_spec_version(spec_version)
	}

	fn set_metadata_for_spec_version(&self, spec_version: u32, metadata: ArcMetadata) {
		self.0.set_metadata_for_spec_version(spec_version, metadata)
	}
}
