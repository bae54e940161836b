//! Alembic's revision graph, answered the way `alembic/script/revision.py`
//! answers it: heads (with and without `depends_on`), bases, history order,
//! branch and merge points, target resolution and upgrade plans.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Error;

/// One revision file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revision {
    pub id: String,
    /// `None` for a base; several ids for a merge.
    pub down_revision: Option<Vec<String>>,
    pub branch_labels: Vec<String>,
    pub depends_on: Option<Vec<String>>,
    pub path: PathBuf,
    /// Line of the `revision = …` assignment.
    pub line: usize,
    /// First line of the module docstring (Alembic's message).
    pub message: String,
}

/// The graph of every revision in a versions folder.
#[derive(Debug, Clone)]
pub struct RevisionGraph {
    revs: Vec<Revision>,
    index: HashMap<String, usize>,
    /// Branch label → the revision that declares it.
    label_owner: HashMap<String, usize>,
    down: Vec<Vec<usize>>,
    resolved_deps: Vec<Vec<usize>>,
    normalized_deps: Vec<Vec<usize>>,
    next: Vec<BTreeSet<usize>>,
    all_next: Vec<BTreeSet<usize>>,
    labels: Vec<BTreeSet<String>>,
    heads: Vec<usize>,
    real_heads: Vec<usize>,
    bases: Vec<usize>,
}

const ILLEGAL: [char; 4] = ['@', '-', '+', ':'];

impl RevisionGraph {
    /// Builds the graph, with the errors Alembic raises (and duplicate ids,
    /// which Alembic only warns about), each naming its files.
    pub fn build(revs: Vec<Revision>) -> Result<RevisionGraph, Error> {
        let n = revs.len();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, r) in revs.iter().enumerate() {
            if let Some(c) = r.id.chars().find(|c| ILLEGAL.contains(c)) {
                return Err(graph_error(
                    &[r],
                    format!(
                        "revision id `{}` contains `{c}`, which Alembic does not allow",
                        r.id
                    ),
                ));
            }
            if r.down_revision.iter().flatten().any(|d| d == &r.id) {
                return Err(graph_error(
                    &[r],
                    format!("revision {} is its own down_revision", r.id),
                ));
            }
            if r.depends_on.iter().flatten().any(|d| d == &r.id) {
                return Err(graph_error(
                    &[r],
                    format!("revision {} depends on itself", r.id),
                ));
            }
            if let Some(&j) = index.get(&r.id) {
                return Err(graph_error(
                    &[&revs[j], r],
                    format!("revision id {} is used by two files", r.id),
                ));
            }
            index.insert(r.id.clone(), i);
        }
        // Labels share the id namespace (Alembic puts both in one map).
        let mut label_owner: HashMap<String, usize> = HashMap::new();
        for (i, r) in revs.iter().enumerate() {
            for label in &r.branch_labels {
                let taken = label_owner.get(label).or_else(|| index.get(label)).copied();
                if let Some(j) = taken {
                    return Err(graph_error(
                        &[r, &revs[j]],
                        format!(
                            "branch label `{label}` of revision {} is already used by revision {}",
                            r.id, revs[j].id
                        ),
                    ));
                }
                label_owner.insert(label.clone(), i);
            }
        }
        let lookup = |name: &str| index.get(name).or_else(|| label_owner.get(name)).copied();
        let mut down = vec![Vec::new(); n];
        let mut resolved_deps = vec![Vec::new(); n];
        for (i, r) in revs.iter().enumerate() {
            for d in r.down_revision.iter().flatten() {
                let j = index.get(d).copied().ok_or_else(|| {
                    graph_error(
                        &[r],
                        format!(
                            "revision {d}, the down_revision of {}, is not present",
                            r.id
                        ),
                    )
                })?;
                if !down[i].contains(&j) {
                    down[i].push(j);
                }
            }
            for d in r.depends_on.iter().flatten() {
                let j = lookup(d).ok_or_else(|| {
                    graph_error(
                        &[r],
                        format!("`{d}`, which revision {} depends on, is not a revision or branch label", r.id),
                    )
                })?;
                if !resolved_deps[i].contains(&j) {
                    resolved_deps[i].push(j);
                }
            }
        }
        let mut next = vec![BTreeSet::new(); n];
        let mut all_next = vec![BTreeSet::new(); n];
        let mut is_head = vec![true; n];
        let mut is_real_head = vec![true; n];
        for i in 0..n {
            for &j in &down[i] {
                next[j].insert(i);
                all_next[j].insert(i);
                is_head[j] = false;
                is_real_head[j] = false;
            }
            for &j in &resolved_deps[i] {
                all_next[j].insert(i);
                is_real_head[j] = false;
            }
        }
        let mut graph = RevisionGraph {
            heads: (0..n).filter(|&i| is_head[i]).collect(),
            real_heads: (0..n).filter(|&i| is_real_head[i]).collect(),
            bases: (0..n)
                .filter(|&i| revs[i].down_revision.is_none())
                .collect(),
            labels: revs
                .iter()
                .map(|r| r.branch_labels.iter().cloned().collect())
                .collect(),
            normalized_deps: vec![Vec::new(); n],
            revs,
            index,
            label_owner,
            down,
            resolved_deps,
            next,
            all_next,
        };
        // Dependencies already implied by an ancestor's dependencies are dropped.
        for i in 0..n {
            if graph.resolved_deps[i].is_empty() {
                continue;
            }
            let mut keep = graph.resolved_deps[i].clone();
            for a in graph.related(&[i], |g, r| g.down[r].clone()) {
                if a != i {
                    keep.retain(|d| !graph.resolved_deps[a].contains(d));
                }
            }
            graph.normalized_deps[i] = keep;
        }
        graph.detect_cycles()?;
        graph.spread_labels();
        Ok(graph)
    }

    fn detect_cycles(&self) -> Result<(), Error> {
        let n = self.revs.len();
        if n == 0 {
            return Ok(());
        }
        let real_bases: Vec<usize> = (0..n)
            .filter(|&i| self.revs[i].down_revision.is_none() && self.revs[i].depends_on.is_none())
            .collect();
        let check = |heads: &[usize], bases: &[usize], dependency: bool| -> Result<(), Error> {
            let up: HashSet<usize> = if dependency {
                self.related(heads, |g, r| g.all_down(r))
                    .into_iter()
                    .collect()
            } else {
                self.related(heads, |g, r| g.down[r].clone())
                    .into_iter()
                    .collect()
            };
            let down: HashSet<usize> = if dependency {
                self.related(bases, |g, r| g.all_next[r].iter().copied().collect())
                    .into_iter()
                    .collect()
            } else {
                self.related(bases, |g, r| g.next[r].iter().copied().collect())
                    .into_iter()
                    .collect()
            };
            let stuck: Vec<&Revision> = (0..n)
                .filter(|i| {
                    heads.is_empty() || bases.is_empty() || !(up.contains(i) && down.contains(i))
                })
                .map(|i| &self.revs[i])
                .collect();
            if stuck.is_empty() {
                return Ok(());
            }
            let ids: Vec<&str> = stuck.iter().map(|r| r.id.as_str()).collect();
            let what = if dependency {
                "dependency cycle"
            } else {
                "cycle"
            };
            Err(graph_error(
                &stuck,
                format!("{what} among revisions {}", ids.join(", ")),
            ))
        };
        check(&self.heads, &self.bases, false)?;
        check(&self.real_heads, &real_bases, true)
    }

    /// Alembic's `_add_branches`: a label spreads to every descendant, and
    /// down from there to the nearest branch or merge point.
    fn spread_labels(&mut self) {
        for i in 0..self.revs.len() {
            let own = self.revs[i].branch_labels.clone();
            if own.is_empty() {
                continue;
            }
            let descendants = self.related(&[i], |g, r| g.next[r].iter().copied().collect());
            for &d in &descendants {
                self.labels[d].extend(own.iter().cloned());
            }
            let mut parent = descendants.last().copied();
            while let Some(p) = parent {
                if self.all_next[p].len() > 1 || self.down[p].len() > 1 {
                    break;
                }
                self.labels[p].extend(own.iter().cloned());
                parent = match self.revs[p].down_revision.as_deref() {
                    Some([one]) => self.index.get(one).copied(),
                    _ => None,
                };
            }
        }
    }

    fn all_down(&self, r: usize) -> Vec<usize> {
        let mut v = self.down[r].clone();
        for d in &self.resolved_deps[r] {
            if !v.contains(d) {
                v.push(*d);
            }
        }
        v
    }

    fn normalized_down(&self, r: usize) -> Vec<usize> {
        let mut v = self.down[r].clone();
        for d in &self.normalized_deps[r] {
            if !v.contains(d) {
                v.push(*d);
            }
        }
        v
    }

    /// `_iterate_related_revisions`: depth-first from `targets`, in Alembic's order.
    fn related(&self, targets: &[usize], step: impl Fn(&Self, usize) -> Vec<usize>) -> Vec<usize> {
        let mut seen = vec![false; self.revs.len()];
        let mut out = Vec::new();
        for &t in targets {
            let mut todo = vec![t];
            while let Some(r) = todo.pop() {
                if seen[r] {
                    continue;
                }
                seen[r] = true;
                todo.extend(step(self, r));
                out.push(r);
            }
        }
        out
    }

    fn ancestors(&self, targets: &[usize]) -> HashSet<usize> {
        self.related(targets, |g, r| g.normalized_down(r))
            .into_iter()
            .collect()
    }

    /// Alembic's `_topological_sort`: newest first, walking one branch down
    /// until another head still needs what comes next.
    fn topological_sort(&self, revisions: &HashSet<usize>, heads: &[usize]) -> Vec<usize> {
        let mut todo = revisions.clone();
        let mut current: Vec<usize> = heads
            .iter()
            .copied()
            .filter(|h| todo.contains(h))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut ancestors: Vec<HashSet<usize>> =
            current.iter().map(|&h| self.ancestors(&[h])).collect();
        let mut output = Vec::new();
        let mut idx = 0;
        while !current.is_empty() {
            let candidate = current[idx];
            if let Some(k) = ancestors
                .iter()
                .enumerate()
                .find(|(k, a)| *k != idx && a.contains(&candidate))
                .map(|(k, _)| k)
            {
                idx = k;
                continue;
            }
            if todo.remove(&candidate) {
                output.push(candidate);
            }
            let to_add: Vec<usize> = self
                .normalized_down(candidate)
                .into_iter()
                .filter(|r| todo.contains(r) && !current.contains(r))
                .collect();
            if to_add.is_empty() {
                current.remove(idx);
                ancestors.remove(idx);
                idx = idx.saturating_sub(1);
            } else if self.normalized_deps[candidate].is_empty() && self.down[candidate].len() == 1
            {
                current[idx] = to_add[0];
                ancestors[idx].remove(&candidate);
            } else {
                current[idx] = to_add[0];
                ancestors[idx] = self.ancestors(&[to_add[0]]);
                for &h in &to_add[1..] {
                    current.push(h);
                    ancestors.push(self.ancestors(&[h]));
                }
            }
        }
        output
    }

    fn ids(&self, list: &[usize]) -> Vec<&str> {
        list.iter().map(|&i| self.revs[i].id.as_str()).collect()
    }

    /// Every revision, in file order.
    pub fn revisions(&self) -> &[Revision] {
        &self.revs
    }

    pub fn get(&self, id: &str) -> Option<&Revision> {
        self.index.get(id).map(|&i| &self.revs[i])
    }

    /// `alembic heads`: revisions no other revision names as its down_revision.
    pub fn heads(&self) -> Vec<&str> {
        self.ids(&self.heads)
    }

    /// `alembic heads --resolve-dependencies`: `depends_on` targets are not
    /// heads either. These are what `alembic_version` holds after `upgrade heads`.
    pub fn real_heads(&self) -> Vec<&str> {
        self.ids(&self.real_heads)
    }

    pub fn bases(&self) -> Vec<&str> {
        self.ids(&self.bases)
    }

    /// `alembic history`: newest first.
    pub fn history(&self) -> Vec<&Revision> {
        let all: HashSet<usize> = self.ancestors(&self.real_heads);
        self.topological_sort(&all, &self.real_heads)
            .into_iter()
            .map(|i| &self.revs[i])
            .collect()
    }

    /// Revisions more than one revision builds on (`alembic branches`).
    pub fn branch_points(&self) -> Vec<&str> {
        let list: Vec<usize> = (0..self.revs.len())
            .filter(|&i| self.next[i].len() > 1)
            .collect();
        self.ids(&list)
    }

    /// Revisions with several down revisions.
    pub fn merge_points(&self) -> Vec<&str> {
        let list: Vec<usize> = (0..self.revs.len())
            .filter(|&i| self.down[i].len() > 1)
            .collect();
        self.ids(&list)
    }

    /// Branch labels of a revision, including those spread from others.
    pub fn labels(&self, id: &str) -> Vec<&str> {
        self.index
            .get(id)
            .map(|&i| self.labels[i].iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Resolves what `alembic upgrade TARGET` would aim at: `heads`, `head`,
    /// `base`, `LABEL@head`, a label, an id or a 4+ character id prefix.
    pub fn resolve(&self, target: &str) -> Result<Vec<&str>, Error> {
        self.resolve_idx(target).map(|v| self.ids(&v))
    }

    fn resolve_idx(&self, target: &str) -> Result<Vec<usize>, Error> {
        let bad = |reason: String| Error::AlembicTarget {
            target: target.to_string(),
            reason,
        };
        match target {
            "heads" => return Ok(self.real_heads.clone()),
            "base" => return Ok(Vec::new()),
            "head" => return self.single_head(None).map_err(bad),
            _ => {}
        }
        if let Some((label, rest)) = target.split_once('@') {
            if rest != "head" {
                return Err(bad("only LABEL@head is supported after `@`".into()));
            }
            let owner = self.lookup(label).map_err(&bad)?;
            return self.single_head(Some(owner)).map_err(bad);
        }
        self.lookup(target).map(|i| vec![i]).map_err(bad)
    }

    fn single_head(&self, lineage_of: Option<usize>) -> Result<Vec<usize>, String> {
        let heads: Vec<usize> = match lineage_of {
            None => self.heads.clone(),
            Some(r) => {
                let up: HashSet<usize> = self
                    .related(&[r], |g, x| g.next[x].iter().copied().collect())
                    .into_iter()
                    .collect();
                self.heads
                    .iter()
                    .copied()
                    .filter(|&h| {
                        up.contains(&h) || self.related(&[h], |g, x| g.down[x].clone()).contains(&r)
                    })
                    .collect()
            }
        };
        match heads.len() {
            0 => Ok(Vec::new()),
            1 => Ok(heads),
            _ => Err(format!(
                "multiple head revisions are present ({}); name one, use LABEL@head, or `heads` for all",
                self.ids(&heads).join(", ")
            )),
        }
    }

    fn lookup(&self, name: &str) -> Result<usize, String> {
        if let Some(&i) = self.index.get(name).or_else(|| self.label_owner.get(name)) {
            return Ok(i);
        }
        if name.len() < 4 {
            return Err(format!(
                "no such revision or branch `{name}`; give at least four characters of a revision id"
            ));
        }
        let matches: Vec<usize> = (0..self.revs.len())
            .filter(|&i| self.revs[i].id.starts_with(name))
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(format!("no such revision or branch `{name}`")),
            many => Err(format!(
                "several revisions start with `{name}`: {}",
                self.ids(many).join(", ")
            )),
        }
    }

    /// What `alembic upgrade TARGET` would run from the `current` rows of
    /// `alembic_version`, in the order it runs them, and the rows it leaves.
    pub fn upgrade_plan(&self, current: &[String], target: &str) -> Result<UpgradePlan<'_>, Error> {
        let targets = self.resolve_idx(target)?;
        let mut cur = Vec::new();
        for c in current {
            let i = self
                .index
                .get(c)
                .copied()
                .ok_or_else(|| Error::AlembicTarget {
                    target: c.clone(),
                    reason: "the database is at a revision that is not in the versions folder"
                        .into(),
                })?;
            cur.push(i);
        }
        let mut required = self.ancestors(&targets);
        required.extend(targets.iter().copied());
        let mut have = self.ancestors(&cur);
        have.extend(cur.iter().copied());
        let needs: HashSet<usize> = required.difference(&have).copied().collect();
        let mut order = self.topological_sort(&needs, &targets);
        order.reverse();
        let mut after: HashSet<usize> = have;
        after.extend(order.iter().copied());
        let below: HashSet<usize> = after.iter().flat_map(|&o| self.all_down(o)).collect();
        let mut heads_after: Vec<usize> = after
            .iter()
            .copied()
            .filter(|r| !below.contains(r))
            .collect();
        heads_after.sort_unstable();
        Ok(UpgradePlan {
            steps: order.into_iter().map(|i| &self.revs[i]).collect(),
            heads_after: self
                .ids(&heads_after)
                .into_iter()
                .map(str::to_string)
                .collect(),
        })
    }
}

/// The revisions an upgrade applies and the `alembic_version` rows after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpgradePlan<'g> {
    pub steps: Vec<&'g Revision>,
    pub heads_after: Vec<String>,
}

fn graph_error(revs: &[&Revision], message: String) -> Error {
    Error::AlembicGraph {
        message,
        files: revs.iter().map(|r| (r.path.clone(), r.line)).collect(),
    }
}
