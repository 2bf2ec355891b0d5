//! `sort`, `expand` and `fields` on the blog fixture.

use serde_json::{Value, json};

use crate::helpers::*;

async fn blog() -> (TestApp, Blog) {
    let app = TestApp::spawn().await;
    let blog = Blog::create(&app).await;
    (app, blog)
}

async fn order(app: &TestApp, blog: &Blog, sort: &str) -> String {
    let (status, list) = app
        .list("posts", &[("sort", sort), ("perPage", "100")])
        .await;
    assert_eq!(status, 200, "sort {sort:?}: {list}");
    blog.names(&list)
}

#[tokio::test]
async fn sort_ascending_descending_and_multiple_keys() {
    let (app, blog) = blog().await;
    for (sort, want) in [
        ("views", "p3,p4,p1,p2"),
        ("+views", "p3,p4,p1,p2"),
        ("-views", "p2,p1,p4,p3"),
        ("title", "p2,p1,p4,p3"),
        ("title:lower", "p2,p1,p3,p4"),
        ("published,-title", "p4,p2,p3,p1"),
        ("-published,views", "p3,p1,p4,p2"),
        (" -views ", "p2,p1,p4,p3"),
    ] {
        assert_eq!(order(&app, &blog, sort).await, want, "sort {sort:?}");
    }
}

#[tokio::test]
async fn sort_by_relation_path_rowid_and_json() {
    let (app, blog) = blog().await;
    for (sort, want) in [
        ("author.name,-views", "p4,p1,p3,p2"),
        ("-author.name,title", "p2,p1,p3,p4"),
        ("@rowid", "p1,p2,p3,p4"),
        ("-@rowid", "p4,p3,p2,p1"),
        ("meta.s,-@rowid", "p3,p4,p1,p2"),
    ] {
        assert_eq!(order(&app, &blog, sort).await, want, "sort {sort:?}");
    }
}

#[tokio::test]
async fn sort_random_returns_every_record() {
    let (app, blog) = blog().await;
    let mut got: Vec<String> = order(&app, &blog, "@random")
        .await
        .split(',')
        .map(str::to_owned)
        .collect();
    got.sort();
    assert_eq!(got, ["p1", "p2", "p3", "p4"]);
}

#[tokio::test]
async fn sort_limits_and_errors() {
    let (app, blog) = blog().await;
    let keys = [
        "title",
        "views",
        "id",
        "created",
        "updated",
        "body",
        "status",
        "published",
        "publishAt",
    ];
    assert_eq!(
        order(&app, &blog, &keys[..8].join(",")).await,
        "p2,p1,p4,p3"
    );
    for sort in [
        keys.join(","),
        "nosuchfield".to_owned(),
        "author.nosuch".to_owned(),
        "title desc".to_owned(),
    ] {
        let resp = app.list("posts", &[("sort", &sort)]).await;
        assert_eq!(resp.0, 400, "sort {sort:?}");
        assert_plain_error(&resp, 400, BAD_REQUEST);
    }
}

#[tokio::test]
async fn sort_with_an_empty_entry_is_400() {
    // PocketBase splits on "," and resolves every entry: "" is an invalid sort field
    let (app, _blog) = blog().await;
    for sort in ["title,,views", "-", "views,"] {
        let resp = app.list("posts", &[("sort", sort)]).await;
        assert_eq!(resp.0, 400, "sort {sort:?}");
        assert_plain_error(&resp, 400, BAD_REQUEST);
    }
}

#[tokio::test]
async fn expand_single_relation_as_object() {
    let (app, blog) = blog().await;
    let p1 = id_of(&blog.p[0]);
    let r = app.view_ok("posts", &p1, &[("expand", "author")]).await;
    assert_eq!(r["expand"], json!({"author": blog.ann}));
    assert_eq!(
        r["author"], blog.ann["id"],
        "the relation value itself is unchanged"
    );
}

#[tokio::test]
async fn expand_multiple_relations_and_several_paths() {
    let (app, blog) = blog().await;
    let r = app
        .view_ok("posts", &id_of(&blog.p[0]), &[("expand", "editors,author")])
        .await;
    assert_eq!(sorted_keys(&r["expand"]), ["author", "editors"]);
    assert_eq!(
        r["expand"]["editors"],
        json!([blog.bob, blog.cid]),
        "stored order"
    );
    assert_eq!(r["expand"]["author"], blog.ann);
}

#[tokio::test]
async fn expand_of_empty_or_unknown_relations() {
    let (app, blog) = blog().await;
    let r = app
        .view_ok("posts", &id_of(&blog.p[3]), &[("expand", "author")])
        .await;
    assert_eq!(r["expand"], json!({}));
    let r = app
        .view_ok("posts", &id_of(&blog.p[2]), &[("expand", "editors")])
        .await;
    assert_eq!(r["expand"], json!({}));
    for expand in ["nosuchfield", "title", ""] {
        let r = app
            .view_ok("posts", &id_of(&blog.p[0]), &[("expand", expand)])
            .await;
        assert!(r.get("expand").is_none(), "expand {expand:?}: {r}");
    }
    let r = app.view_ok("posts", &id_of(&blog.p[0]), &[]).await;
    assert!(r.get("expand").is_none());
}

#[tokio::test]
async fn expand_nested_paths() {
    let (app, blog) = blog().await;
    let r = app
        .view_ok(
            "comments",
            &id_of(&blog.c[0]),
            &[("expand", "post.author,user")],
        )
        .await;
    assert_eq!(r["expand"]["user"], blog.bob);
    let mut post = r["expand"]["post"].clone();
    let post_expand = post.as_object_mut().unwrap().remove("expand");
    assert_eq!(post, blog.p[0]);
    assert_eq!(post_expand, Some(json!({"author": blog.ann})));
}

#[tokio::test]
async fn expand_back_relations() {
    let (app, blog) = blog().await;
    let via = "comments_via_post";
    let r = app
        .view_ok("posts", &id_of(&blog.p[0]), &[("expand", via)])
        .await;
    assert_eq!(sorted_keys(&r["expand"]), [via]);
    let mut got: Vec<String> = r["expand"][via]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    got.sort();
    let mut want = vec![id_of(&blog.c[0]), id_of(&blog.c[1])];
    want.sort();
    assert_eq!(got, want);
    let c1 = r["expand"][via]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == blog.c[0]["id"])
        .unwrap();
    assert_eq!(c1, &blog.c[0]);
    let r = app
        .view_ok("posts", &id_of(&blog.p[2]), &[("expand", via)])
        .await;
    assert_eq!(r["expand"], json!({}));
    // nested inside the back-relation
    let r = app
        .view_ok(
            "posts",
            &id_of(&blog.p[1]),
            &[("expand", "comments_via_post.user")],
        )
        .await;
    let list = r["expand"][via].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["expand"], json!({"user": blog.ann}));
}

#[tokio::test]
async fn expand_on_list_create_and_update_responses() {
    let (app, blog) = blog().await;
    let l = app
        .list_ok("posts", &[("expand", "author"), ("sort", "@rowid")])
        .await;
    let names: Vec<Value> = items(&l)
        .iter()
        .map(|r| r["expand"]["author"]["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("Ann"), json!("Bob"), json!("Ann"), Value::Null]
    );
    let (status, c) = app
        .try_create_q(
            "posts",
            &[("expand", "author")],
            &json!({"title": "tmp", "author": blog.bob["id"]}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["expand"], json!({"author": blog.bob}));
    let (status, u) = app
        .try_update_q(
            "posts",
            &id_of(&c),
            &[("expand", "author")],
            &json!({"author": blog.cid["id"]}),
        )
        .await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["expand"], json!({"author": blog.cid}));
}

#[tokio::test]
async fn expand_respects_the_target_view_rule_for_guests() {
    let (app, blog) = blog().await;
    // authors: only those older than 35 are viewable by guests (bob)
    app.update_collection("authors", &json!({"viewRule": "age > 35"}))
        .await;
    let guest = app.guest();
    let p1 = id_of(&blog.p[0]);
    let r = guest
        .view_ok("posts", &p1, &[("expand", "author,editors")])
        .await;
    assert!(
        r.get("expand").and_then(|e| e.get("author")).is_none(),
        "ann is not viewable: {r}"
    );
    assert_eq!(
        r["expand"]["editors"],
        json!([blog.bob]),
        "cid is filtered out: {r}"
    );
    let r = guest
        .view_ok("posts", &id_of(&blog.p[1]), &[("expand", "author")])
        .await;
    assert_eq!(r["expand"]["author"], blog.bob);
    // locked (null) view rule: nothing is expanded for guests
    app.update_collection("authors", &json!({"viewRule": null}))
        .await;
    let r = guest
        .view_ok("posts", &p1, &[("expand", "author,editors")])
        .await;
    let expanded = r.get("expand").cloned().unwrap_or(json!({}));
    assert_eq!(expanded, json!({}), "{r}");
    // ... while the superuser still sees everything
    let r = app
        .view_ok("posts", &p1, &[("expand", "author,editors")])
        .await;
    assert_eq!(r["expand"]["author"], blog.ann);
    // back-relations honour the comments' view rule too
    app.update_collection("comments", &json!({"viewRule": "text = \"second\""}))
        .await;
    let r = guest
        .view_ok("posts", &p1, &[("expand", "comments_via_post")])
        .await;
    assert_eq!(r["expand"]["comments_via_post"], json!([blog.c[1]]));
}

#[tokio::test]
async fn fields_picks_keys() {
    let (app, blog) = blog().await;
    let p1 = id_of(&blog.p[0]);
    assert_eq!(
        app.view_ok("posts", &p1, &[("fields", "id,title")]).await,
        json!({"id": p1, "title": "Hello world"})
    );
    assert_eq!(
        app.view_ok("posts", &p1, &[("fields", "*")]).await,
        blog.p[0]
    );
    assert_eq!(
        app.view_ok("posts", &p1, &[("fields", " id , title ")])
            .await,
        json!({"id": p1, "title": "Hello world"})
    );
    assert_eq!(
        app.view_ok("posts", &p1, &[("fields", "meta.s")]).await,
        json!({"meta": {"s": "x"}})
    );
    assert_eq!(
        app.view_ok("posts", &p1, &[("fields", "nosuchfield")])
            .await,
        json!({})
    );
}

#[tokio::test]
async fn fields_on_expanded_records() {
    let (app, blog) = blog().await;
    let p1 = id_of(&blog.p[0]);
    assert_eq!(
        app.view_ok(
            "posts",
            &p1,
            &[("expand", "author"), ("fields", "id,expand.author.name")]
        )
        .await,
        json!({"id": p1, "expand": {"author": {"name": "Ann"}}})
    );
    let mut want = blog.p[0].clone();
    want["expand"] = json!({"author": {"name": "Ann"}});
    assert_eq!(
        app.view_ok(
            "posts",
            &p1,
            &[("expand", "author"), ("fields", "*,expand.author.name")]
        )
        .await,
        want
    );
    assert_eq!(
        app.view_ok(
            "posts",
            &p1,
            &[("expand", "editors"), ("fields", "expand.editors.age")]
        )
        .await,
        json!({"expand": {"editors": [{"age": 40}, {"age": 25}]}})
    );
}

#[tokio::test]
async fn fields_excerpt_strips_html() {
    let (app, blog) = blog().await;
    let p1 = id_of(&blog.p[0]);
    for (fields, want) in [
        ("body:excerpt(10,true)", json!({"body": "Hello bold..."})),
        ("body:excerpt(10)", json!({"body": "Hello bold"})),
        (
            "id,body:excerpt(200,true)",
            json!({"id": p1, "body": "Hello bold world, this is a longer body"}),
        ),
        ("title:excerpt(5,true)", json!({"title": "Hello..."})),
    ] {
        assert_eq!(
            app.view_ok("posts", &p1, &[("fields", fields)]).await,
            want,
            "{fields}"
        );
    }
}

#[tokio::test]
async fn fields_on_lists_apply_to_items_only() {
    let (app, blog) = blog().await;
    let _ = &blog;
    let l = app
        .list_ok(
            "posts",
            &[("perPage", "2"), ("fields", "title"), ("sort", "@rowid")],
        )
        .await;
    assert_eq!(
        l,
        json!({"page": 1, "perPage": 2, "totalItems": 4, "totalPages": 2, "items": [{"title": "Hello world"}, {"title": "100% pure"}]})
    );
    let l = app
        .list_ok(
            "posts",
            &[
                ("expand", "author"),
                ("fields", "title,expand.author.name"),
                ("sort", "@rowid"),
            ],
        )
        .await;
    assert_eq!(
        l["items"],
        json!([
            {"title": "Hello world", "expand": {"author": {"name": "Ann"}}},
            {"title": "100% pure", "expand": {"author": {"name": "Bob"}}},
            {"title": "under_score", "expand": {"author": {"name": "Ann"}}},
            {"title": "Zed", "expand": {}},
        ])
    );
}

#[tokio::test]
async fn fields_on_create_update_collections_and_not_on_errors() {
    let (app, blog) = blog().await;
    let (status, c) = app
        .try_create_q("posts", &[("fields", "title")], &json!({"title": "picked"}))
        .await;
    assert_eq!((status, c), (200, json!({"title": "picked"})));
    let (status, u) = app
        .try_update_q(
            "posts",
            &id_of(&blog.p[0]),
            &[("fields", "views")],
            &json!({"views": 11}),
        )
        .await;
    assert_eq!((status, u), (200, json!({"views": 11})));
    let (status, col) = app.get("/api/collections/posts?fields=id,name").await;
    assert_eq!(
        (status, col),
        (200, json!({"id": blog.posts["id"], "name": "posts"}))
    );
    let resp = app
        .view("posts", "nosuchrecord123", &[("fields", "status")])
        .await;
    assert_plain_error(&resp, 404, NOT_FOUND);
    let resp = app
        .try_create_q(
            "posts",
            &[("fields", "message")],
            &json!({"views": "x", "tags": ["zz"]}),
        )
        .await;
    let data = assert_error(&resp, 400, "Failed to create record.");
    assert_eq!(
        codes(&data),
        code_map(&[("tags", "validation_invalid_value")])
    );
}
