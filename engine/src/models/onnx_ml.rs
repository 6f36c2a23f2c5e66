//! The `ai.onnx.ml` operators scikit-learn models converted by `skl2onnx` use — `Scaler`,
//! `Normalizer`, `LinearRegressor`, `LinearClassifier`, `TreeEnsembleRegressor`,
//! `TreeEnsembleClassifier` — and the default domain's `ArgMax`, with onnxruntime's semantics.
//!
//! Every sum runs in a fixed order in both profiles: dot products on [`kernels::dot`], tree
//! leaves added tree by tree in the order the trees first appear in the node attributes.
//! Transcendentals (`LOGISTIC`, `SOFTMAX`) use `libm`. A tree ensemble is read once, when the
//! model loads, into arrays indexed by node; rows run in parallel, each on its own. A tree whose
//! links loop or leave the tree is refused (at load, or when the node runs).

use candle_core::{DType, Device, Tensor};
use candle_onnx::onnx::NodeProto;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};

use super::{
	onnx::{node_name, within_limit},
	onnx_ops::Attributes,
};
use crate::{
	error::{EngineError, Result},
	kernels,
	ops::host,
};

fn model_error(node: &NodeProto, what: impl std::fmt::Display) -> EngineError {
	EngineError::Model(format!("{}: {what}", node_name(node)))
}

/// A float list attribute, or its opset-3 `*_as_tensor` form.
fn floats(node: &NodeProto, name: &str) -> Vec<f32> {
	let attrs = Attributes(node);
	match attrs.get(name) {
		Some(a) if !a.floats.is_empty() => a.floats.clone(),
		_ => attrs
			.tensor(&format!("{name}_as_tensor"))
			.and_then(|t| super::onnx::tensor_from_proto(t).ok())
			.and_then(|t| t.flatten_all().and_then(|t| t.to_dtype(DType::F32)).and_then(|t| t.to_vec1::<f32>()).ok())
			.unwrap_or_default(),
	}
}
fn ints(node: &NodeProto, name: &str) -> Vec<i64> {
	Attributes(node).ints(name).unwrap_or_default()
}

/// The input as `[N, F]` f32 rows (a vector is one row; integers are converted).
fn rows(node: &NodeProto, x: &Tensor) -> Result<(Vec<f32>, usize, usize)> {
	let (n, f) = match x.dims() {
		[f] => (1, *f),
		[n, f] => (*n, *f),
		dims => return Err(model_error(node, format!("takes [N, F] features, got {dims:?}"))),
	};
	let x = match x.dtype() {
		DType::F32 | DType::I64 | DType::I32 => x.to_dtype(DType::F32)?,
		other => return Err(model_error(node, format!("takes numbers, got {other:?}"))),
	};
	Ok((host(&x)?, n, f))
}

fn matrix(values: Vec<f32>, n: usize, width: usize) -> Result<Tensor> {
	Ok(Tensor::from_vec(values, (n, width), &Device::Cpu)?)
}

fn labels(values: Vec<i64>) -> Result<Tensor> {
	let n = values.len();
	Ok(Tensor::from_vec(values, n, &Device::Cpu)?)
}

/// The class labels a classifier answers with. String labels are answered by their index here;
/// the graph turns the indices into the strings when it returns them
/// (`onnx::string_label_values`).
fn class_labels(node: &NodeProto) -> Result<Vec<i64>> {
	let strings = Attributes(node).strings("classlabels_strings");
	if !strings.is_empty() {
		return Ok((0..strings.len() as i64).collect());
	}
	let mut l = ints(node, "classlabels_int64s");
	if l.is_empty() {
		l = ints(node, "classlabels_ints");
	}
	Ok(l)
}

fn sigmoid(x: f32) -> f32 {
	1.0 / (1.0 + libm::expf(-x))
}

/// `post_transform` applied to one row of scores.
fn post_transform(node: &NodeProto, row: &mut [f32]) -> Result<()> {
	match Attributes(node).string("post_transform", "NONE").as_str() {
		"NONE" => {},
		"LOGISTIC" => row.iter_mut().for_each(|v| *v = sigmoid(*v)),
		"SOFTMAX" => kernels::softmax_rows(row, row.len().max(1)),
		"SOFTMAX_ZERO" => {
			// Softmax over the non-zero scores; zeros stay zero.
			let max = row.iter().copied().filter(|v| *v != 0.0).fold(f32::NEG_INFINITY, f32::max);
			let mut exps: Vec<f32> = row.iter().map(|&v| if v == 0.0 { 0.0 } else { libm::expf(v - max) }).collect();
			let total = kernels::sum(&exps);
			exps.iter_mut().for_each(|e| *e /= total);
			row.copy_from_slice(&exps);
		},
		other => return Err(model_error(node, format!("post_transform {other} is not supported"))),
	}
	Ok(())
}

/// The index of the first largest score.
fn argmax(row: &[f32]) -> usize {
	let mut best = 0;
	for (i, v) in row.iter().enumerate() {
		if *v > row[best] {
			best = i;
		}
	}
	best
}

pub(crate) fn scaler(node: &NodeProto, x: &Tensor) -> Result<Tensor> {
	let (mut v, n, f) = rows(node, x)?;
	let (offset, scale) = (floats(node, "offset"), floats(node, "scale"));
	let pick = |p: &[f32], j: usize, default: f32| match p.len() {
		0 => Ok(default),
		1 => Ok(p[0]),
		len if len == f => Ok(p[j]),
		len => Err(model_error(node, format!("{len} parameters for {f} features"))),
	};
	for row in v.chunks_exact_mut(f.max(1)) {
		for (j, e) in row.iter_mut().enumerate() {
			*e = (*e - pick(&offset, j, 0.0)?) * pick(&scale, j, 1.0)?;
		}
	}
	matrix(v, n, f)
}

pub(crate) fn normalizer(node: &NodeProto, x: &Tensor) -> Result<Tensor> {
	let (mut v, n, f) = rows(node, x)?;
	let norm = Attributes(node).string("norm", "MAX");
	for row in v.chunks_exact_mut(f.max(1)) {
		let divisor = match norm.as_str() {
			"MAX" => row.iter().copied().fold(f32::NEG_INFINITY, f32::max),
			"L1" => kernels::sum(&row.iter().map(|v| v.abs()).collect::<Vec<_>>()),
			"L2" => kernels::dot(row, row).sqrt(),
			other => return Err(model_error(node, format!("norm {other}"))),
		};
		row.iter_mut().for_each(|e| *e /= divisor);
	}
	matrix(v, n, f)
}

/// `x · Wᵀ + b` for `targets` rows of coefficients, in the fixed order of [`kernels::dot`].
fn linear_scores(node: &NodeProto, x: &[f32], n: usize, f: usize, targets: usize) -> Result<Vec<f32>> {
	let (w, b) = (floats(node, "coefficients"), floats(node, "intercepts"));
	if w.len() != targets * f || !(b.is_empty() || b.len() == targets) {
		return Err(model_error(
			node,
			format!("{} coefficients and {} intercepts for {targets} × {f}", w.len(), b.len()),
		));
	}
	within_limit(n.saturating_mul(targets))?;
	let mut out = Vec::with_capacity(n * targets);
	for row in x.chunks_exact(f.max(1)).take(n) {
		for t in 0..targets {
			out.push(kernels::dot(row, &w[t * f..(t + 1) * f]) + b.get(t).copied().unwrap_or(0.0));
		}
	}
	Ok(out)
}

pub(crate) fn linear_regressor(node: &NodeProto, x: &Tensor) -> Result<Tensor> {
	let (v, n, f) = rows(node, x)?;
	let targets = usize::try_from(Attributes(node).int("targets", 1)).unwrap_or(0).max(1);
	let mut y = linear_scores(node, &v, n, f, targets)?;
	for row in y.chunks_exact_mut(targets) {
		post_transform(node, row)?;
	}
	matrix(y, n, targets)
}

/// Two columns from one binary score, as onnxruntime writes them: `[−s, s]` (or `[1 − p, p]`
/// when the score is already a probability), the label the second class when it wins.
fn binary_columns(score: f32, probability: bool) -> ([f32; 2], bool) {
	if probability {
		([1.0 - score, score], score > 0.5)
	} else {
		([-score, score], score > 0.0)
	}
}

pub(crate) fn linear_classifier(node: &NodeProto, x: &Tensor) -> Result<Vec<Tensor>> {
	let (v, n, f) = rows(node, x)?;
	let classes = class_labels(node)?;
	let w = floats(node, "coefficients");
	let targets = if f == 0 { 0 } else { w.len() / f };
	if targets == 0 || classes.is_empty() {
		return Err(model_error(node, "no coefficients or no class labels"));
	}
	let raw = linear_scores(node, &v, n, f, targets)?;
	let (mut scores, mut picked) = (Vec::new(), Vec::with_capacity(n));
	if targets == 1 && classes.len() == 2 {
		for &s in &raw {
			let (mut cols, second) = binary_columns(s, false);
			post_transform(node, &mut cols)?;
			scores.extend(cols);
			picked.push(classes[usize::from(second)]);
		}
		return Ok(vec![labels(picked)?, matrix(scores, n, 2)?]);
	}
	if targets != classes.len() {
		return Err(model_error(node, format!("{targets} score rows for {} classes", classes.len())));
	}
	for row in raw.chunks_exact(targets) {
		picked.push(classes[argmax(row)]);
		let mut row = row.to_vec();
		post_transform(node, &mut row)?;
		scores.extend(row);
	}
	Ok(vec![labels(picked)?, matrix(scores, n, targets)?])
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Branch {
	Leq,
	Lt,
	Gte,
	Gt,
	Eq,
	Neq,
	Leaf,
}

/// Trees a row walks at once.
const WALKS: usize = 8;

/// A tree node as a row's walk reads it.
#[derive(Clone, Copy)]
struct TreeNode {
	value: f32,
	feature: u32,
	on_true: u32,
	on_false: u32,
	mode: Branch,
	missing_true: bool,
}

/// How a tree ensemble combines its trees' leaf weights.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
	Sum,
	Average,
	Min,
	Max,
}

/// A tree ensemble's nodes, by index, with their children resolved.
pub(crate) struct Forest {
	/// One entry per node, all a step reads in one place (one cache line per step).
	nodes: Vec<TreeNode>,
	/// The root of each tree, in the order the trees first appear.
	roots: Vec<usize>,
	/// `(output column, weight)` of each leaf, by node index (empty for branches).
	leaves: Vec<Vec<(usize, f32)>>,
	aggregate: Aggregate,
}

impl Forest {
	/// A `TreeEnsembleRegressor` or `TreeEnsembleClassifier` node's ensemble, read once; `None`
	/// for other nodes.
	pub(crate) fn prepare(node: &NodeProto) -> Result<Option<Self>> {
		match node.op_type.as_str() {
			"TreeEnsembleRegressor" => Ok(Some(Self::read(node, "target", regressor_targets(node))?)),
			"TreeEnsembleClassifier" => Ok(Some(Self::read(node, "class", class_labels(node)?.len())?)),
			_ => Ok(None),
		}
	}

	fn read(node: &NodeProto, prefix: &str, columns: usize) -> Result<Self> {
		let (tree, id) = (ints(node, "nodes_treeids"), ints(node, "nodes_nodeids"));
		let count = tree.len();
		let features = ints(node, "nodes_featureids");
		let values = floats(node, "nodes_values");
		let modes = Attributes(node).strings("nodes_modes");
		let (trues, falses) = (ints(node, "nodes_truenodeids"), ints(node, "nodes_falsenodeids"));
		let missing = ints(node, "nodes_missing_value_tracks_true");
		if [id.len(), features.len(), values.len(), modes.len(), trues.len(), falses.len()].iter().any(|&l| l != count)
			|| !(missing.is_empty() || missing.len() == count)
		{
			return Err(model_error(node, "the node attributes differ in length"));
		}
		let index: HashMap<(i64, i64), usize> =
			tree.iter().zip(&id).enumerate().map(|(i, (t, n))| ((*t, *n), i)).collect();
		if index.len() != count {
			return Err(model_error(node, "a node id appears twice in a tree"));
		}
		let child = |i: usize, target: i64| {
			index
				.get(&(tree[i], target))
				.copied()
				.ok_or_else(|| model_error(node, format!("node {} of tree {} links to a missing node", id[i], tree[i])))
		};
		let aggregate = match Attributes(node).string("aggregate_function", "SUM").as_str() {
			"SUM" => Aggregate::Sum,
			"AVERAGE" => Aggregate::Average,
			"MIN" => Aggregate::Min,
			"MAX" => Aggregate::Max,
			other => return Err(model_error(node, format!("aggregate_function {other}"))),
		};
		if u32::try_from(count).is_err() {
			return Err(model_error(node, "too many nodes"));
		}
		let mut forest =
			Forest { nodes: Vec::with_capacity(count), roots: Vec::new(), leaves: vec![Vec::new(); count], aggregate };
		let mut seen_trees = HashSet::new();
		for i in 0..count {
			let mode = match modes[i].as_str() {
				"BRANCH_LEQ" => Branch::Leq,
				"BRANCH_LT" => Branch::Lt,
				"BRANCH_GTE" => Branch::Gte,
				"BRANCH_GT" => Branch::Gt,
				"BRANCH_EQ" => Branch::Eq,
				"BRANCH_NEQ" => Branch::Neq,
				"LEAF" => Branch::Leaf,
				other => return Err(model_error(node, format!("node mode {other}"))),
			};
			let feature = u32::try_from(features[i]).map_err(|_| model_error(node, "a feature id out of range"))?;
			let (t, f) = if mode == Branch::Leaf { (i, i) } else { (child(i, trues[i])?, child(i, falses[i])?) };
			forest.nodes.push(TreeNode {
				value: values[i],
				feature,
				// Node indices fit: `count` does.
				on_true: t as u32,
				on_false: f as u32,
				mode,
				missing_true: missing.get(i).is_some_and(|&m| m != 0),
			});
			if seen_trees.insert(tree[i]) {
				forest.roots.push(i);
			}
		}
		let (lt, ln) = (ints(node, &format!("{prefix}_treeids")), ints(node, &format!("{prefix}_nodeids")));
		let (lc, lw) = (ints(node, &format!("{prefix}_ids")), floats(node, &format!("{prefix}_weights")));
		if [ln.len(), lc.len(), lw.len()].iter().any(|&l| l != lt.len()) {
			return Err(model_error(node, "the leaf attributes differ in length"));
		}
		for k in 0..lt.len() {
			let leaf = *index.get(&(lt[k], ln[k])).ok_or_else(|| model_error(node, "a weight for a missing leaf"))?;
			let column = usize::try_from(lc[k])
				.ok()
				.filter(|c| *c < columns)
				.ok_or_else(|| model_error(node, format!("output {} is out of range", lc[k])))?;
			forest.leaves[leaf].push((column, lw[k]));
		}
		Ok(forest)
	}

	/// The leaves a row reaches from up to [`WALKS`] roots, walked in step so that the walks'
	/// dependent loads overlap (the leaves are then summed in tree order as before).
	fn leaves_of(&self, node: &NodeProto, row: &[f32], roots: &[usize]) -> Result<impl Iterator<Item = usize>> {
		let mut at = [0usize; WALKS];
		at[..roots.len()].copy_from_slice(roots);
		let mut done = [false; WALKS];
		for d in done.iter_mut().skip(roots.len()) {
			*d = true;
		}
		for _ in 0..=self.nodes.len() {
			let mut all = true;
			for (at, done) in at.iter_mut().zip(done.iter_mut()) {
				if !*done {
					match self.step(node, row, *at)? {
						Some(next) => {
							*at = next;
							all = false;
						},
						None => *done = true,
					}
				}
			}
			if all {
				return Ok(at.into_iter().take(roots.len()));
			}
		}
		Err(model_error(node, "a tree's links loop"))
	}

	/// The node a row goes to from node `at`, or `None` at a leaf.
	#[inline(always)]
	fn step(&self, node: &NodeProto, row: &[f32], at: usize) -> Result<Option<usize>> {
		let here = self.nodes[at];
		if here.mode == Branch::Leaf {
			return Ok(None);
		}
		let x = *row
			.get(here.feature as usize)
			.ok_or_else(|| model_error(node, format!("feature {} is out of range", here.feature)))?;
		let t = here.value;
		let go_true = if x.is_nan() {
			here.missing_true
		} else {
			match here.mode {
				Branch::Leq => x <= t,
				Branch::Lt => x < t,
				Branch::Gte => x >= t,
				Branch::Gt => x > t,
				Branch::Eq => x == t,
				Branch::Neq => x != t,
				Branch::Leaf => false,
			}
		};
		Ok(Some(if go_true { here.on_true } else { here.on_false } as usize))
	}

	/// Each row's scores: leaf weights summed tree by tree, aggregated, plus the base values.
	/// `lone_base`: the column a single base value belongs to (a binary classifier's weighted
	/// class), when there is one base value for several columns.
	fn scores(
		&self,
		node: &NodeProto,
		x: &[f32],
		n: usize,
		f: usize,
		columns: usize,
		lone_base: Option<usize>,
	) -> Result<Vec<f32>> {
		within_limit(n.saturating_mul(columns))?;
		let mut base = floats(node, "base_values");
		if let (1, Some(column)) = (base.len(), lone_base) {
			let value = base[0];
			base = vec![0.0; columns];
			base[column] = value;
		}
		if !(base.is_empty() || base.len() == columns) {
			return Err(model_error(node, format!("{} base values for {columns} outputs", base.len())));
		}
		let width = f.max(1);
		// Rows are independent; each sums its trees in the same order on any thread.
		let per_row = (0..n)
			.into_par_iter()
			.with_min_len(16)
			.map(|i| {
				let row = &x[i * width..(i + 1) * width];
				let mut acc = vec![0f32; columns];
				let mut seen = vec![false; columns];
				let mut reached = Vec::with_capacity(self.roots.len());
				for roots in self.roots.chunks(WALKS) {
					reached.extend(self.leaves_of(node, row, roots)?);
				}
				for &leaf in &reached {
					for &(c, w) in &self.leaves[leaf] {
						acc[c] = match self.aggregate {
							Aggregate::Min if seen[c] => acc[c].min(w),
							Aggregate::Max if seen[c] => acc[c].max(w),
							Aggregate::Min | Aggregate::Max => w,
							Aggregate::Sum | Aggregate::Average => acc[c] + w,
						};
						seen[c] = true;
					}
				}
				for (c, a) in acc.iter_mut().enumerate() {
					if self.aggregate == Aggregate::Average {
						*a /= self.roots.len().max(1) as f32;
					}
					*a += base.get(c).copied().unwrap_or(0.0);
				}
				Ok(acc)
			})
			.collect::<Result<Vec<_>>>()?;
		Ok(per_row.concat())
	}
}

fn regressor_targets(node: &NodeProto) -> usize {
	usize::try_from(Attributes(node).int("n_targets", 1)).unwrap_or(0).max(1)
}

/// `prepared`: the node's ensemble as [`Forest::prepare`] read it at load, if it could.
pub(crate) fn tree_ensemble_regressor(node: &NodeProto, prepared: Option<&Forest>, x: &Tensor) -> Result<Tensor> {
	let (v, n, f) = rows(node, x)?;
	let targets = regressor_targets(node);
	let read;
	let forest = match prepared {
		Some(forest) => forest,
		None => {
			read = Forest::read(node, "target", targets)?;
			&read
		},
	};
	let mut y = forest.scores(node, &v, n, f, targets, None)?;
	for row in y.chunks_exact_mut(targets) {
		post_transform(node, row)?;
	}
	matrix(y, n, targets)
}

pub(crate) fn tree_ensemble_classifier(node: &NodeProto, prepared: Option<&Forest>, x: &Tensor) -> Result<Vec<Tensor>> {
	let (v, n, f) = rows(node, x)?;
	let classes = class_labels(node)?;
	if classes.is_empty() {
		return Err(model_error(node, "no class labels"));
	}
	let read;
	let forest = match prepared {
		Some(forest) => forest,
		None => {
			read = Forest::read(node, "class", classes.len())?;
			&read
		},
	};
	// onnxruntime's binary case: two labels and weights for one class only.
	let mut weighted: Vec<usize> = forest.leaves.iter().flatten().map(|(c, _)| *c).collect();
	weighted.sort();
	weighted.dedup();
	let binary = classes.len() == 2 && weighted.len() == 1;
	let raw = forest.scores(node, &v, n, f, classes.len(), binary.then(|| weighted[0]))?;
	let (mut scores, mut picked) = (Vec::with_capacity(raw.len()), Vec::with_capacity(n));
	let positive = forest.leaves.iter().flatten().all(|(_, w)| *w >= 0.0);
	for row in raw.chunks_exact(classes.len()) {
		if binary {
			let (mut cols, second) = binary_columns(row[weighted[0]], positive);
			post_transform(node, &mut cols)?;
			picked.push(classes[usize::from(second)]);
			scores.extend(cols);
		} else {
			picked.push(classes[argmax(row)]);
			let mut row = row.to_vec();
			post_transform(node, &mut row)?;
			scores.extend(row);
		}
	}
	Ok(vec![labels(picked)?, matrix(scores, n, classes.len())?])
}

/// `ZipMap`: the `[N, C]` probabilities a classifier made, one column per label of the node's
/// `classlabels_int64s` or `classlabels_strings`. The graph returns them as that tensor (see
/// `onnx::output_dtype`), so this checks that every label has its column and passes them on.
pub(crate) fn zip_map(node: &NodeProto, x: &Tensor) -> Result<Tensor> {
	let attrs = Attributes(node);
	let labels = match (attrs.get("classlabels_int64s"), attrs.get("classlabels_strings")) {
		(Some(ints), None) => ints.ints.len(),
		(None, Some(strings)) => strings.strings.len(),
		_ => return Err(model_error(node, "needs exactly one of classlabels_int64s and classlabels_strings")),
	};
	if x.dtype() != DType::F32 || x.rank() != 2 || x.dim(1)? != labels {
		return Err(model_error(
			node,
			format!("takes [N, {labels}] f32 probabilities, got {:?} {:?}", x.dtype(), x.dims()),
		));
	}
	Ok(x.clone())
}

/// `ArgMax` along `axis` (the first largest, or the last with `select_last_index`), as i64.
pub(crate) fn arg_max(node: &NodeProto, x: &Tensor) -> Result<Tensor> {
	let rank = x.rank().max(1) as i64;
	let find = |name: &str, default: i64| Attributes(node).int(name, default);
	let axis = find("axis", 0);
	let axis = if axis < 0 { axis + rank } else { axis };
	if !(0..rank).contains(&axis) {
		return Err(model_error(node, format!("axis {axis} outside rank {rank}")));
	}
	let axis = axis as usize;
	let last = find("select_last_index", 0) != 0;
	let moved = x.to_dtype(DType::F32)?.transpose(axis, x.rank() - 1)?.contiguous()?;
	let width = x.dims()[axis];
	let v = host(&moved)?;
	let picked: Vec<i64> = v
		.chunks_exact(width.max(1))
		.map(|row| {
			let mut best = 0;
			for (i, e) in row.iter().enumerate() {
				if *e > row[best] || (last && *e == row[best]) {
					best = i;
				}
			}
			best as i64
		})
		.collect();
	let mut dims = moved.dims().to_vec();
	*dims.last_mut().expect("rank ≥ 1") = 1;
	let t = Tensor::from_vec(picked, dims, &Device::Cpu)?.transpose(axis, x.rank() - 1)?.contiguous()?;
	Ok(if find("keepdims", 1) != 0 { t } else { t.squeeze(axis)? })
}
