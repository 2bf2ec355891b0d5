//! `expand`: attaching related records to the records of a response, through relation
//! fields and back-relations, filtered by each related collection's view rule.

use std::collections::HashMap;
use std::sync::Arc;

use kb_core::{Collection, Field, Schema};
use kb_store::{Reader, RequestInfo, Row, StoreError};
use serde_json::{Map, Value};

use crate::app::{Access, App, Requester, RuleKind};

/// Most back-related records expanded per record.
const MAX_BACK_RELATIONS: u64 = 1000;

/// One step of an expand path, resolved against the schema before the read starts.
pub(crate) struct ExpandNode {
    /// The key under `expand` (`author`, `comments_via_post`).
    key: String,
    target: Arc<Collection>,
    via: Via,
    access: Access,
    children: Vec<ExpandNode>,
}

enum Via {
    /// A relation field of the parent record.
    Relation { field: String, multiple: bool },
    /// A relation field of the target pointing back at the parent.
    Back { field: Field, single: bool },
}

/// A record on its way out: its stored values and its API JSON (which grows `expand`).
pub(crate) struct Output {
    pub row: Row,
    pub json: Map<String, Value>,
}

impl App {
    /// Resolve `expand` paths for records of `collection`. Unknown paths are ignored, as
    /// PocketBase does.
    pub(crate) fn expand_plan(
        &self,
        schema: &Schema,
        requester: &Requester,
        collection: &Collection,
        expand: &str,
    ) -> Vec<ExpandNode> {
        if expand.trim().is_empty() {
            return Vec::new();
        }
        // Like PocketBase, an expand that cannot be parsed expands nothing rather than failing.
        let Ok(paths) = kb_filter::parse_expand(expand) else {
            return Vec::new();
        };
        let mut nodes: Vec<ExpandNode> = Vec::new();
        for path in &paths {
            self.add_path(schema, requester, collection, path, &mut nodes);
        }
        nodes
    }

    fn add_path(
        &self,
        schema: &Schema,
        requester: &Requester,
        collection: &Collection,
        path: &[String],
        nodes: &mut Vec<ExpandNode>,
    ) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        if let Some(existing) = nodes.iter_mut().find(|n| &n.key == first) {
            let target = existing.target.clone();
            let mut children = std::mem::take(&mut existing.children);
            self.add_path(schema, requester, &target, rest, &mut children);
            existing.children = children;
            return;
        }
        let resolved = if let Some((source, field_name)) = first.split_once("_via_") {
            schema.by_name(source).and_then(|target| {
                let field = target.field(field_name)?;
                let relation = field.relation()?;
                (relation.collection_id == collection.id).then(|| {
                    let single = !field.kind.is_multiple()
                        && target.indexes.iter().any(|text| {
                            kb_core::index::IndexDef::parse(text)
                                .is_ok_and(|idx| idx.is_single_column_unique(&field.name))
                        });
                    (
                        target.clone(),
                        Via::Back {
                            field: field.clone(),
                            single,
                        },
                    )
                })
            })
        } else {
            collection.field(first).and_then(|field| {
                let relation = field.relation()?;
                if field.hidden && !requester.is_superuser() {
                    return None;
                }
                let target = schema.by_id(&relation.collection_id)?;
                Some((
                    target.clone(),
                    Via::Relation {
                        field: field.name.clone(),
                        multiple: field.kind.is_multiple(),
                    },
                ))
            })
        };
        let Some((target, via)) = resolved else {
            return;
        };
        let access = self.access(requester, &target, RuleKind::View);
        let mut node = ExpandNode {
            key: first.clone(),
            target,
            via,
            access,
            children: Vec::new(),
        };
        let target = node.target.clone();
        self.add_path(schema, requester, &target, rest, &mut node.children);
        nodes.push(node);
    }
}

fn ids_of(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Turn `rows` of `collection` into outputs, with their own `nodes` expanded.
pub(crate) fn present_rows(
    reader: &mut dyn Reader,
    collection: &Collection,
    rows: Vec<Row>,
    nodes: &[ExpandNode],
    request: &RequestInfo,
    to_json: &dyn Fn(&Collection, &Row) -> Map<String, Value>,
) -> Result<Vec<Output>, StoreError> {
    let mut outputs: Vec<Output> = rows
        .into_iter()
        .map(|row| Output {
            json: to_json(collection, &row),
            row,
        })
        .collect();
    expand_records(reader, nodes, &mut outputs, request, to_json)?;
    Ok(outputs)
}

/// Expand `records` in place, reading through `reader` (all in one snapshot).
pub(crate) fn expand_records(
    reader: &mut dyn Reader,
    nodes: &[ExpandNode],
    records: &mut [Output],
    request: &RequestInfo,
    to_json: &dyn Fn(&Collection, &Row) -> Map<String, Value>,
) -> Result<(), StoreError> {
    // Like PocketBase: no `expand` key when nothing may be expanded (only superusers may see
    // the related records), an empty one when something was attempted.
    if nodes
        .iter()
        .all(|n| matches!(n.access, Access::SuperusersOnly))
    {
        return Ok(());
    }
    for record in records.iter_mut() {
        record
            .json
            .entry("expand")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    for node in nodes {
        let conditions: Vec<&kb_query::FilterPlan> = match &node.access {
            Access::SuperusersOnly => continue,
            Access::All => Vec::new(),
            Access::Rule(plan) => vec![plan.as_ref()],
        };
        match &node.via {
            Via::Relation { field, multiple } => {
                let mut wanted: Vec<String> = records
                    .iter()
                    .flat_map(|r| ids_of(r.row.get(field)))
                    .collect();
                wanted.sort();
                wanted.dedup();
                let rows = reader.get_many(&node.target, &wanted, &conditions, request)?;
                let related =
                    present_rows(reader, &node.target, rows, &node.children, request, to_json)?;
                let by_id: HashMap<String, Value> = related
                    .into_iter()
                    .filter_map(|o| {
                        let id = o.row.get("id")?.as_str()?.to_owned();
                        Some((id, Value::Object(o.json)))
                    })
                    .collect();
                for record in records.iter_mut() {
                    let found: Vec<Value> = ids_of(record.row.get(field))
                        .iter()
                        .filter_map(|id| by_id.get(id).cloned())
                        .collect();
                    let value = if *multiple {
                        if found.is_empty() {
                            continue;
                        }
                        Value::Array(found)
                    } else {
                        match found.into_iter().next() {
                            Some(v) => v,
                            None => continue,
                        }
                    };
                    if let Some(Value::Object(expand)) = record.json.get_mut("expand") {
                        expand.insert(node.key.clone(), value);
                    }
                }
            }
            Via::Back { field, single } => {
                for record in records.iter_mut() {
                    let Some(id) = record
                        .row
                        .get("id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                    else {
                        continue;
                    };
                    let rows = reader.referencing(
                        &node.target,
                        field,
                        &id,
                        &conditions,
                        request,
                        Some(MAX_BACK_RELATIONS),
                    )?;
                    if rows.is_empty() {
                        continue;
                    }
                    let related =
                        present_rows(reader, &node.target, rows, &node.children, request, to_json)?;
                    let mut values = related.into_iter().map(|o| Value::Object(o.json));
                    let value = if *single {
                        values.next().unwrap_or(Value::Null)
                    } else {
                        Value::Array(values.collect())
                    };
                    if let Some(Value::Object(expand)) = record.json.get_mut("expand") {
                        expand.insert(node.key.clone(), value);
                    }
                }
            }
        }
    }
    Ok(())
}
