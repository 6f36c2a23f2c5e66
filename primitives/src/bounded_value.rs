//! A [`Value`] with a bound on its encoded size, as calls, storage and events carry it.
//!
//! It is kept as its canonical SCALE encoding, which is also how it is encoded: storage holds
//! exactly the value's bytes, no length prefix and no per-field bounds, and its type in the
//! metadata is [`Value`] itself, so wallets and generic clients (polkadot.js Apps, py-substrate,
//! subxt) build and show it as text, token ids or a tensor instead of opaque bytes.

use crate::inference::Value;
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, Error, Input, MaxEncodedLen};
use core::marker::PhantomData;
use scale_info::{Type, TypeInfo};
use sp_core::Get;

/// A [`Value`] whose encoding is at most `Bound` bytes.
pub struct BoundedValue<Bound>(Vec<u8>, PhantomData<Bound>);

/// Why bytes or a value are not a [`BoundedValue`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ValueError {
	/// The bytes are not exactly one canonically encoded [`Value`].
	Undecodable,
	/// The encoding is longer than the bound.
	TooLarge,
}

impl<Bound: Get<u32>> BoundedValue<Bound> {
	/// The value's canonical encoding.
	pub fn as_bytes(&self) -> &[u8] {
		&self.0
	}

	/// The canonical encoding, owned.
	pub fn into_bytes(self) -> Vec<u8> {
		self.0
	}

	/// The value itself.
	pub fn value(&self) -> Value {
		// The bytes were produced by encoding a `Value` or checked to decode as exactly one.
		Value::decode(&mut &self.0[..]).expect("a BoundedValue holds a value's encoding; qed")
	}

	/// `bytes` if they are exactly one canonically encoded [`Value`] within the bound.
	pub fn from_encoded(bytes: Vec<u8>) -> Result<Self, ValueError> {
		if bytes.len() > Bound::get() as usize {
			return Err(ValueError::TooLarge);
		}
		let value = Value::decode(&mut &bytes[..]).map_err(|_| ValueError::Undecodable)?;
		// Decoding stops at the value's end and accepts only minimal length prefixes, so the
		// bytes are canonical exactly when they re-encode to themselves (and named tensors come
		// in name order).
		if value.encoded_size() != bytes.len() || !value.is_canonical() {
			return Err(ValueError::Undecodable);
		}
		Ok(Self(bytes, PhantomData))
	}

	/// `value`, if its encoding fits the bound.
	pub fn new(value: &Value) -> Result<Self, ValueError> {
		let bytes = value.encode();
		if bytes.len() > Bound::get() as usize {
			return Err(ValueError::TooLarge);
		}
		Ok(Self(bytes, PhantomData))
	}
}

impl<Bound: Get<u32>> TryFrom<Value> for BoundedValue<Bound> {
	type Error = ValueError;
	fn try_from(value: Value) -> Result<Self, ValueError> {
		Self::new(&value)
	}
}

impl<Bound> Encode for BoundedValue<Bound> {
	fn size_hint(&self) -> usize {
		self.0.len()
	}
	fn encode_to<O: codec::Output + ?Sized>(&self, dest: &mut O) {
		dest.write(&self.0)
	}
	fn encoded_size(&self) -> usize {
		self.0.len()
	}
}

impl<Bound: Get<u32>> Decode for BoundedValue<Bound> {
	fn decode<I: Input>(input: &mut I) -> Result<Self, Error> {
		// The limit applies while decoding, so a huge length prefix fails before anything the
		// size of the input is allocated.
		let mut limited = Limited { inner: input, left: Bound::get() as usize };
		let value = Value::decode(&mut limited)?;
		Ok(Self(value.encode(), PhantomData))
	}
}

impl<Bound: Get<u32>> DecodeWithMemTracking for BoundedValue<Bound> {}

impl<Bound: Get<u32>> MaxEncodedLen for BoundedValue<Bound> {
	fn max_encoded_len() -> usize {
		Bound::get() as usize
	}
}

impl<Bound> TypeInfo for BoundedValue<Bound> {
	// The metadata describes the value: its encoding is the value's own.
	type Identity = Value;
	fn type_info() -> Type {
		Value::type_info()
	}
}

impl<Bound> Clone for BoundedValue<Bound> {
	fn clone(&self) -> Self {
		Self(self.0.clone(), PhantomData)
	}
}

impl<Bound> PartialEq for BoundedValue<Bound> {
	fn eq(&self, other: &Self) -> bool {
		self.0 == other.0
	}
}

impl<Bound> Eq for BoundedValue<Bound> {}

impl<Bound> core::fmt::Debug for BoundedValue<Bound> {
	fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
		match Value::decode(&mut &self.0[..]) {
			Ok(value) => value.fmt(f),
			Err(_) => f.debug_tuple("BoundedValue").field(&self.0).finish(),
		}
	}
}

/// An input that fails once more than `left` bytes are read from it.
struct Limited<'a, I: Input> {
	inner: &'a mut I,
	left: usize,
}

impl<I: Input> Input for Limited<'_, I> {
	fn remaining_len(&mut self) -> Result<Option<usize>, Error> {
		Ok(Some(self.inner.remaining_len()?.map_or(self.left, |n| n.min(self.left))))
	}

	fn read(&mut self, into: &mut [u8]) -> Result<(), Error> {
		self.left = self.left.checked_sub(into.len()).ok_or("value longer than its bound")?;
		self.inner.read(into)
	}

	fn descend_ref(&mut self) -> Result<(), Error> {
		self.inner.descend_ref()
	}

	fn ascend_ref(&mut self) {
		self.inner.ascend_ref()
	}

	fn on_before_alloc_mem(&mut self, size: usize) -> Result<(), Error> {
		self.inner.on_before_alloc_mem(size)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_core::ConstU32;

	type Small = BoundedValue<ConstU32<16>>;

	#[test]
	fn encodes_as_the_value_itself() {
		let value = Value::Text(b"hello".to_vec());
		let bounded = Small::new(&value).unwrap();
		assert_eq!(bounded.encode(), value.encode());
		assert_eq!(Small::decode(&mut &value.encode()[..]).unwrap(), bounded);
		assert_eq!(bounded.value(), value);
		assert_eq!(Small::max_encoded_len(), 16);
	}

	#[test]
	fn bound_is_enforced_while_decoding() {
		let long = Value::Tokens(vec![7; 8]).encode();
		assert!(long.len() > 16);
		assert!(Small::decode(&mut &long[..]).is_err());
		assert_eq!(Small::new(&Value::Tokens(vec![7; 8])), Err(ValueError::TooLarge));
		// A length prefix claiming far more than the input holds fails without allocating it.
		let mut huge = vec![2u8];
		codec::Compact(u32::MAX / 4).encode_to(&mut huge);
		assert!(BoundedValue::<ConstU32<{ u32::MAX }>>::decode(&mut &huge[..]).is_err());
	}

	#[test]
	fn named_tensors_out_of_name_order_are_not_values() {
		use crate::inference::{NamedTensor, TensorValue};
		let t = |name: &[u8]| NamedTensor {
			name: name.to_vec(),
			tensor: TensorValue::Bool { shape: vec![1], data: vec![true] },
		};
		let ordered = Value::Tensors(vec![t(b"a"), t(b"b")]).encode();
		assert!(BoundedValue::<ConstU32<64>>::from_encoded(ordered).is_ok());
		let swapped = Value::Tensors(vec![t(b"b"), t(b"a")]).encode();
		assert_eq!(BoundedValue::<ConstU32<64>>::from_encoded(swapped), Err(ValueError::Undecodable));
	}

	#[test]
	fn only_canonical_encodings_are_values() {
		let value = Value::Tokens(vec![1, 2]).encode();
		assert!(Small::from_encoded(value.clone()).is_ok());
		let mut trailing = value.clone();
		trailing.push(0);
		assert_eq!(Small::from_encoded(trailing), Err(ValueError::Undecodable));
		assert_eq!(Small::from_encoded(vec![9]), Err(ValueError::Undecodable));
		assert_eq!(Small::from_encoded(Vec::new()), Err(ValueError::Undecodable));
		// A two-byte compact length for a value that fits in one byte.
		let non_minimal = vec![2u8, 0b0000_0001 | (1 << 2), 0, b'a'];
		assert_eq!(Small::from_encoded(non_minimal), Err(ValueError::Undecodable));
	}

	#[test]
	fn metadata_type_is_value() {
		assert_eq!(Small::type_info(), Value::type_info());
		assert_eq!(scale_info::meta_type::<Small>(), scale_info::meta_type::<Value>());
	}
}
