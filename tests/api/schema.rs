//! The schema: `schema.graphql` is the live SDL, the contract's names are
//! all there, and every field is documented.

use serde_json::{json, Value};

use crate::helpers::spawn_app;

const INTROSPECTION: &str = "{
    __schema {
        queryType { name } mutationType { name } subscriptionType { name }
        types {
            name kind description specifiedByURL
            fields(includeDeprecated: true) { name description isDeprecated deprecationReason args { name description defaultValue type { ...Ref } } type { ...Ref } }
            inputFields { name description type { ...Ref } }
            enumValues { name description }
        }
    }
}
fragment Ref on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// A type reference as SDL writes it: `[Activity!]!`.
fn sdl_type(t: &Value) -> String {
    match t["kind"].as_str().unwrap() {
        "NON_NULL" => format!("{}!", sdl_type(&t["ofType"])),
        "LIST" => format!("[{}]", sdl_type(&t["ofType"])),
        _ => t["name"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn the_committed_schema_is_the_live_schema() {
    // Arrange
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql at the top of the repository");

    // Act
    let live = activity_feed::graphql::sdl();

    // Assert
    assert!(
        committed == live,
        "schema.graphql differs from the live schema; regenerate it with `cargo run -- schema > schema.graphql`"
    );
}

#[tokio::test]
async fn the_served_schema_has_every_name_of_the_contract_and_documents_every_field() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let schema = app.data(INTROSPECTION, json!({})).await["__schema"].clone();

    // Assert
    let types = schema["types"].as_array().unwrap();
    let find = |name: &str| {
        types
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("type {name} is missing"))
    };
    let roots = |kind: &str| schema[kind]["name"].as_str().unwrap().to_owned();
    let (query, mutation, subscription) = (
        roots("queryType"),
        roots("mutationType"),
        roots("subscriptionType"),
    );
    // The names client caches key their policies by (typePolicies.Query, updates.Mutation).
    assert_eq!(
        [query.as_str(), mutation.as_str(), subscription.as_str()],
        ["Query", "Mutation", "Subscription"]
    );
    // (type, field, "arg: Type = default, …", result type), as issue 2 states them
    let contract: &[(&str, &str, &str, &str)] = &[
        (
            &query,
            "activities",
            "filter: ActivityFilter, page: Int = 1, perPage: Int = 50",
            "ActivityPage!",
        ),
        (
            &query,
            "activitiesForUser",
            "userUuid: UUID!, filter: ActivityFilter, page: Int = 1, perPage: Int = 50",
            "ActivityPage!",
        ),
        (
            &query,
            "activityFeed",
            "filter: ActivityFilter, first: Int, after: String, last: Int, before: String",
            "ActivityConnection!",
        ),
        (
            &query,
            "recentActivities",
            "limit: Int = 20",
            "[Activity!]!",
        ),
        (&query, "activity", "uuid: UUID!", "Activity"),
        (&query, "activityCount", "filter: ActivityFilter", "Int!"),
        (
            &query,
            "activityCounts",
            "filter: ActivityFilter, groupBy: ActivityGroupBy!",
            "[CountBucket!]!",
        ),
        (&query, "actionTypes", "", "[String!]!"),
        (&query, "modes", "", "[String!]!"),
        (&query, "modules", "", "[String!]!"),
        (&query, "resourceTypes", "", "[String!]!"),
        (&query, "retentionDays", "", "Int!"),
        (&query, "actionBadgeColor", "action: String!", "String!"),
        (&query, "modeBadgeColor", "mode: String", "String!"),
        (&query, "user", "uuid: UUID!", "User"),
        (&mutation, "log", "input: LogInput!", "LogPayload!"),
        (
            &mutation,
            "logBatch",
            "inputs: [LogInput!]!",
            "[LogPayload!]!",
        ),
        (
            &mutation,
            "logUserChange",
            "input: LogUserChangeInput!",
            "LogUserChangePayload!",
        ),
        (&mutation, "prune", "days: Int!", "PruneResult!"),
        (
            &mutation,
            "upsertUsers",
            "inputs: [UserInput!]!",
            "[User!]!",
        ),
        (
            &subscription,
            "activityAdded",
            "filter: ActivityFilter",
            "Activity!",
        ),
        ("Activity", "uuid", "", "UUID!"),
        ("Activity", "action", "", "String!"),
        ("Activity", "module", "", "String"),
        ("Activity", "mode", "", "String"),
        ("Activity", "actorUuid", "", "UUID"),
        ("Activity", "actor", "", "User"),
        ("Activity", "resourceType", "", "String"),
        ("Activity", "resourceUuid", "", "UUID"),
        ("Activity", "resourceUser", "", "User"),
        ("Activity", "targetUuid", "", "UUID"),
        ("Activity", "target", "", "User"),
        ("Activity", "metadata", "", "JSON!"),
        ("Activity", "insertedAt", "", "DateTime!"),
        ("Activity", "actionBadgeColor", "", "String!"),
        ("Activity", "modeBadgeColor", "", "String!"),
        ("User", "uuid", "", "UUID!"),
        ("User", "email", "", "String"),
        ("User", "firstName", "", "String"),
        ("User", "lastName", "", "String"),
        ("ActivityPage", "entries", "", "[Activity!]!"),
        ("ActivityPage", "total", "", "Int!"),
        ("ActivityPage", "page", "", "Int!"),
        ("ActivityPage", "perPage", "", "Int!"),
        ("ActivityPage", "totalPages", "", "Int!"),
        ("CountBucket", "key", "", "String"),
        ("CountBucket", "count", "", "Int!"),
        ("LogPayload", "activity", "", "Activity"),
        ("LogPayload", "errors", "", "[FieldError!]!"),
        ("FieldError", "field", "", "String!"),
        ("FieldError", "message", "", "String!"),
        ("FieldError", "code", "", "String!"),
        ("LogUserChangePayload", "changed", "", "Boolean!"),
        ("LogUserChangePayload", "activity", "", "Activity"),
        ("PruneResult", "deleted", "", "Int!"),
        ("PruneResult", "cutoff", "", "DateTime!"),
        // Issue 18: identity, one error shape, one way to page, tones, viewer.
        (&query, "node", "id: ID!", "Node"),
        (&query, "nodes", "ids: [ID!]!", "[Node]!"),
        (&query, "viewer", "", "Viewer!"),
        (&query, "actionTone", "action: String!", "Tone!"),
        (&query, "modeTone", "mode: String", "Tone!"),
        (
            &query,
            "groupedActivities",
            "filter: ActivityFilter, window: Int! = 3600, first: Int = 20, after: String",
            "ActivityGroupConnection!",
        ),
        (
            &mutation,
            "logActivities",
            "inputs: [LogInput!]!, correlationId: String",
            "LogActivitiesPayload!",
        ),
        (
            &mutation,
            "saveUsers",
            "inputs: [UserInput!]!",
            "SaveUsersPayload!",
        ),
        (
            &mutation,
            "pruneActivities",
            "days: Int!",
            "PruneActivitiesPayload!",
        ),
        ("Activity", "id", "", "ID!"),
        ("Activity", "resource", "", "Resource"),
        ("Activity", "actionTone", "", "Tone!"),
        ("Activity", "modeTone", "", "Tone!"),
        ("User", "id", "", "ID!"),
        (
            "User",
            "activities",
            "filter: ActivityFilter, first: Int, after: String, last: Int, before: String",
            "ActivityConnection!",
        ),
        ("ActivityGroup", "id", "", "ID!"),
        ("ActivityConnection", "totalCount", "", "Int!"),
        ("CountBucket", "actor", "", "User"),
        ("LogPayload", "replayed", "", "Boolean!"),
        ("LogPayload", "userErrors", "", "[UserError!]!"),
        ("LogUserChangePayload", "userErrors", "", "[UserError!]!"),
        ("LogActivitiesPayload", "activities", "", "[Activity!]!"),
        ("LogActivitiesPayload", "userErrors", "", "[UserError!]!"),
        ("SaveUsersPayload", "userErrors", "", "[UserError!]!"),
        ("PruneActivitiesPayload", "userErrors", "", "[UserError!]!"),
        ("UserError", "field", "", "[String!]!"),
        ("UserError", "message", "", "String!"),
        ("UserError", "code", "", "ErrorCode!"),
        ("Viewer", "role", "", "Role!"),
        ("Viewer", "uuid", "", "UUID"),
        ("Viewer", "user", "", "User"),
    ];
    for (ty, field, args, result) in contract {
        let f = find(ty)["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == *field)
            .unwrap_or_else(|| panic!("{ty}.{field} is missing"));
        let got_args: Vec<String> = f["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let default = a["defaultValue"]
                    .as_str()
                    .map_or(String::new(), |d| format!(" = {d}"));
                format!(
                    "{}: {}{default}",
                    a["name"].as_str().unwrap(),
                    sdl_type(&a["type"])
                )
            })
            .collect();
        // Later features may add arguments; the contract's must all be there.
        for arg in args.split(", ").filter(|a| !a.is_empty()) {
            assert!(
                got_args.iter().any(|a| a == arg),
                "{ty}.{field} has no argument {arg}: {got_args:?}"
            );
        }
        assert_eq!(sdl_type(&f["type"]), *result, "type of {ty}.{field}");
    }
    let inputs: &[(&str, &str)] = &[
        ("ActivityFilter", "action: String, module: String, mode: String, actorUuid: UUID, resourceType: String, resourceUuid: UUID, targetUuid: UUID, since: DateTime, until: DateTime, actionIn: [String!], actionNot: String, actorUuidIn: [UUID!], resourceTypeIn: [String!], after: String"),
        ("LogInput", "action: String!, module: String, mode: String, actorUuid: UUID, resourceType: String, resourceUuid: UUID, targetUuid: UUID, metadata: JSON"),
        ("LogUserChangeInput", "action: String!, userUuid: UUID!, changes: JSON!, before: JSON, actorUuid: UUID, targetUuid: UUID, mode: String, actorRole: String, extraMetadata: JSON, skipFields: [String!]"),
    ];
    for (ty, fields) in inputs {
        let got: Vec<String> = find(ty)["inputFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{}: {}", f["name"].as_str().unwrap(), sdl_type(&f["type"])))
            .collect();
        for field in fields.split(", ") {
            assert!(
                got.iter().any(|f| f == field),
                "{ty} has no field {field}: {got:?}"
            );
        }
    }
    let group_by: Vec<Value> = find("ActivityGroupBy")["enumValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].clone())
        .collect();
    assert_eq!(
        group_by,
        json!([
            "ACTION",
            "MODULE",
            "MODE",
            "RESOURCE_TYPE",
            "ACTOR",
            "DAY",
            "HOUR"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    for scalar in ["UUID", "DateTime", "JSON"] {
        assert_eq!(find(scalar)["kind"], "SCALAR");
        // Code generators and docs link a scalar's format through @specifiedBy.
        assert!(
            find(scalar)["specifiedByURL"]
                .as_str()
                .is_some_and(|u| u.starts_with("http")),
            "{scalar} has no @specifiedBy"
        );
    }

    // Every type, field, argument, input field and enum value of the
    // schema's own types is documented, and every deprecation names its
    // replacement ("Use `…`").
    let documented = |v: &Value| {
        v["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty())
    };
    let mut undocumented = Vec::new();
    let mut unexplained = Vec::new();
    for t in types {
        let name = t["name"].as_str().unwrap();
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        if !documented(t) {
            undocumented.push(name.to_owned());
        }
        for list in ["fields", "inputFields", "enumValues"] {
            for item in t[list].as_array().into_iter().flatten() {
                let item_name = format!("{name}.{}", item["name"].as_str().unwrap());
                if !documented(item) {
                    undocumented.push(item_name.clone());
                }
                for arg in item["args"].as_array().into_iter().flatten() {
                    if !documented(arg) {
                        undocumented
                            .push(format!("{item_name}({})", arg["name"].as_str().unwrap()));
                    }
                }
                if item["isDeprecated"] == true
                    && !item["deprecationReason"]
                        .as_str()
                        .is_some_and(|r| r.contains("Use `"))
                {
                    unexplained.push(item_name);
                }
            }
        }
    }
    assert_eq!(undocumented, Vec::<String>::new(), "undocumented");
    assert_eq!(
        unexplained,
        Vec::<String>::new(),
        "deprecated without a replacement"
    );
    app.stop().await;
}
