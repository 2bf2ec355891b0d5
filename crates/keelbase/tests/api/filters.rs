//! The filter language over HTTP, on the blog fixture (see `helpers::Blog`):
//! operators, literals, relations, back-relations, modifiers, macros, functions, limits.

use serde_json::json;

use crate::helpers::*;

async fn blog() -> (TestApp, Blog) {
    let app = TestApp::spawn().await;
    let blog = Blog::create(&app).await;
    (app, blog)
}

/// Assert a list of `(filter, expected posts)` pairs as the superuser.
async fn check(app: &TestApp, blog: &Blog, cases: &[(&str, &str)]) {
    for (filter, want) in cases {
        assert_eq!(
            blog.matching(app, "posts", filter).await,
            *want,
            "filter {filter:?}"
        );
    }
}

#[tokio::test]
async fn comparison_operators_on_numbers() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("views = 10", "p1"),
            ("views != 10", "p2,p3,p4"),
            ("views > 5", "p1,p2,p4"),
            ("views >= 5.5", "p1,p2,p4"),
            ("views < 10", "p3,p4"),
            ("views <= 10", "p1,p3,p4"),
            ("views = \"10\"", "p1"),
            ("views > -1", "p1,p2,p3,p4"),
            ("10 = views", "p1"),
        ],
    )
    .await;
}

#[tokio::test]
async fn like_operators_escape_and_wrap() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("title ~ \"o\"", "p1,p3"),
            ("title !~ \"o\"", "p2,p4"),
            ("title ~ \"HELLO\"", "p1"),
            ("title ~ \"Hel%\"", "p1"),
            ("title ~ \"%pure\"", "p2"),
            ("title ~ \"100%\"", "p2"),
            ("title ~ \"_\"", "p3"),
            ("title ~ \"lo w\"", "p1"),
            ("title ~ \"\"", "p1,p2,p3,p4"),
        ],
    )
    .await;
}

#[tokio::test]
async fn null_true_false_and_empty_values() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("status = null", "p3"),
            ("status = \"\"", "p3"),
            ("status != null", "p1,p2,p4"),
            ("published = true", "p1,p3"),
            ("published = false", "p2,p4"),
            ("published != false", "p1,p3"),
            ("published = TRUE", "p1,p3"),
            ("author = null", "p4"),
            ("author != \"\"", "p1,p2,p3"),
            ("publishAt = \"\"", "p3,p4"),
            ("null = null", "p1,p2,p3,p4"),
            ("1 = 1", "p1,p2,p3,p4"),
            ("", "p1,p2,p3,p4"),
            ("id = \"\"", ""),
        ],
    )
    .await;
}

#[tokio::test]
async fn logical_operators_quotes_and_comments() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("views > 5 && published = true", "p1"),
            ("views > 15 || tags:length = 0", "p2,p3"),
            ("(title ~ \"o\" || title ~ \"Z\") && views > 5", "p1,p4"),
            ("title = 'Zed'", "p4"),
            ("title = \"Zed\" // trailing comment", "p4"),
            ("((views = 10))", "p1"),
            ("views = 10 || views = 20 && published = true", "p1"),
            ("(views = 10 || views = 20) && published = false", "p2"),
            ("title\n=\t\"Zed\"", "p4"),
        ],
    )
    .await;
}

#[tokio::test]
async fn any_variants_of_every_operator() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("editors.name ?= \"Bob\"", "p1,p4"),
            ("editors.name = \"Bob\"", ""),
            ("editors.name ?!= \"Bob\"", "p1,p2,p3,p4"),
            ("editors.name != \"Bob\"", "p2,p3"),
            ("editors.age ?> 35", "p1,p4"),
            ("editors.age > 20", "p1,p2,p4"),
            ("editors.age ?>= 40", "p1,p4"),
            ("editors.age ?< 26", "p1"),
            ("editors.age ?<= 25", "p1"),
            ("editors.name ?~ \"b\"", "p1,p4"),
            ("editors.name ?!~ \"b\"", "p1,p2,p4"),
            // on a single value the ?-variants behave like the plain ones
            ("views ?= 10", "p1"),
            ("title ?~ \"zed\"", "p4"),
        ],
    )
    .await;
}

#[tokio::test]
async fn single_relation_paths() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("author.name = \"Ann\"", "p1,p3"),
            ("author.name != \"Ann\"", "p2,p4"),
            ("author.age > 35", "p2"),
            ("author.name ~ \"b\"", "p2"),
        ],
    )
    .await;
    // through comments: two levels
    assert_eq!(
        blog.matching(&app, "comments", "post.author.name = \"Ann\"")
            .await,
        "c1,c2"
    );
}

#[tokio::test]
async fn back_relations() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("comments_via_post.text ?= \"first\"", "p1"),
            ("comments_via_post.text = \"first\"", ""),
            ("comments_via_post.text ~ \"i\"", "p2"),
            ("comments_via_post.text ?~ \"i\"", "p1,p2"),
            ("comments_via_post.user.name ?= \"cid\"", "p1"),
            ("comments_via_post.id ?!= \"\"", "p1,p2"),
        ],
    )
    .await;
}

#[tokio::test]
async fn multi_select_each_and_length() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("tags = \"a\"", ""),
            ("tags ?= \"a\"", ""),
            ("tags ~ \"a\"", "p1,p4"),
            ("tags:each ?= \"a\"", "p1,p4"),
            ("tags:each = \"a\"", ""),
            ("tags:each != \"b\"", "p2,p3,p4"),
            ("tags:each ?~ \"d\"", "p4"),
            ("tags:length = 0", "p3"),
            ("tags:length >= 2", "p1,p4"),
            ("tags:length = 3", "p4"),
            ("editors:length = 2", "p1,p4"),
            ("editors:length < 1", "p3"),
        ],
    )
    .await;
}

#[tokio::test]
async fn lower_modifier() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("title:lower = \"hello world\"", "p1"),
            ("author.name:lower = \"ann\"", "p1,p3"),
            ("title = \"hello world\"", ""),
        ],
    )
    .await;
}

#[tokio::test]
async fn datetime_macros() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("created <= @now", "p1,p2,p3,p4"),
            ("created >= @todayStart", "p1,p2,p3,p4"),
            ("created <= @todayEnd", "p1,p2,p3,p4"),
            ("created > @yesterday && created < @tomorrow", "p1,p2,p3,p4"),
            (
                "created >= @monthStart && created <= @monthEnd",
                "p1,p2,p3,p4",
            ),
            (
                "created >= @yearStart && created <= @yearEnd",
                "p1,p2,p3,p4",
            ),
            ("created > @now", ""),
            ("created < @todayStart", ""),
            ("publishAt != \"\" && publishAt < @now", "p1,p2"),
            ("publishAt > \"2024-06-01 00:00:00.000Z\"", "p2"),
            ("@year >= 2024", "p1,p2,p3,p4"),
            ("@month >= 1 && @month <= 12", "p1,p2,p3,p4"),
            (
                "@day >= 1 && @hour >= 0 && @minute >= 0 && @second >= 0",
                "p1,p2,p3,p4",
            ),
            ("@weekday >= 0 && @weekday <= 6", "p1,p2,p3,p4"),
            ("@year < 2000", ""),
        ],
    )
    .await;
}

#[tokio::test]
async fn json_paths() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("meta.s = \"x\"", "p1,p4"),
            ("meta.k.0 = 1", "p1"),
            ("meta.k.1 = 2", "p1"),
            ("meta.k.0 = 3", "p2"),
            ("meta.nope = null", "p1,p2,p3,p4"),
            ("meta.s ~ \"y\"", "p2"),
        ],
    )
    .await;
}

#[tokio::test]
async fn functions_strftime_and_geo_distance() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("strftime('%Y', publishAt) = \"2024\"", "p1"),
            ("strftime('%Y-%m', publishAt) = \"2025-06\"", "p2"),
            (
                "strftime('%Y', created) = strftime('%Y', @now)",
                "p1,p2,p3,p4",
            ),
        ],
    )
    .await;
    app.create_collection(&json!({"name": "places", "fields": [{"name": "name", "type": "text"}, {"name": "loc", "type": "geoPoint"}]}))
        .await;
    for (name, lon, lat) in [
        ("sofia", 23.3219, 42.6977),
        ("plovdiv", 24.7453, 42.1354),
        ("london", -0.1276, 51.5072),
    ] {
        app.create_record(
            "places",
            &json!({"name": name, "loc": {"lon": lon, "lat": lat}}),
        )
        .await;
    }
    let names = |list: serde_json::Value| -> Vec<String> {
        pluck(&list, "name")
            .into_iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let near = app
        .list_ok(
            "places",
            &[
                ("filter", "geoDistance(loc.lon, loc.lat, 23.32, 42.69) < 25"),
                ("sort", "@rowid"),
            ],
        )
        .await;
    assert_eq!(names(near), ["sofia"]);
    let mid = app
        .list_ok(
            "places",
            &[
                (
                    "filter",
                    "geoDistance(loc.lon, loc.lat, 23.32, 42.69) < 200",
                ),
                ("sort", "@rowid"),
            ],
        )
        .await;
    assert_eq!(names(mid), ["sofia", "plovdiv"]);
    let far = app
        .list_ok(
            "places",
            &[
                (
                    "filter",
                    "geoDistance(loc.lon, loc.lat, 23.32, 42.69) > 1000",
                ),
                ("sort", "@rowid"),
            ],
        )
        .await;
    assert_eq!(names(far), ["london"]);
    let lat = app.list_ok("places", &[("filter", "loc.lat > 50")]).await;
    assert_eq!(names(lat), ["london"]);
}

#[tokio::test]
async fn collection_joins_as_superuser() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("@collection.comments.user ?= author", "p1,p2,p3"),
            ("@collection.comments.text ?= \"third\"", "p1,p2,p3,p4"),
            // the same (unaliased) collection is one join: both conditions hold on the same
            // comment, "third" by ann, and ann wrote p1 and p3
            (
                "@collection.comments.user ?= author && @collection.comments.text ?= \"third\"",
                "p1,p3",
            ),
            ("@collection.authors.name ?= \"Bob\"", "p1,p2,p3,p4"),
            ("@collection.authors.name ?= \"Nobody\"", ""),
            (
                "@collection.authors:a.id ?= author && @collection.authors:a.age ?> 35",
                "p2",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn request_fields_in_a_superuser_filter() {
    let (app, blog) = blog().await;
    check(
        &app,
        &blog,
        &[
            ("@request.auth.id != \"\"", "p1,p2,p3,p4"),
            (
                &format!("@request.auth.id = \"{}\"", app.su_id),
                "p1,p2,p3,p4",
            ),
            (
                "@request.auth.collectionName = \"_superusers\"",
                "p1,p2,p3,p4",
            ),
            ("@request.method = \"GET\"", "p1,p2,p3,p4"),
            ("@request.query.perPage = \"100\"", "p1,p2,p3,p4"),
            ("@request.query.nosuch = null", "p1,p2,p3,p4"),
        ],
    )
    .await;
}

#[tokio::test]
async fn quoted_strings_with_escapes_match_exactly() {
    let (app, blog) = blog().await;
    // what pb.filter('nick = {:n}', {n: `O'Hara "the" \ann`}) produces
    let filter = r#"nick = "O'Hara \"the\" \\ann""#;
    assert_eq!(blog.matching(&app, "authors", filter).await, "ann");
    assert_eq!(
        blog.matching(&app, "authors", r#"nick ~ "\"the\" \\""#)
            .await,
        "ann"
    );
    assert_eq!(
        blog.matching(&app, "authors", r#"nick = "O'Hara""#).await,
        ""
    );
    assert_eq!(
        blog.matching(&app, "authors", r#"nick = 'O\'Hara "the" \\ann'"#)
            .await,
        "ann"
    );
    assert_eq!(
        blog.matching(&app, "posts", "title = \"100% pure\"").await,
        "p2"
    );
}

#[tokio::test]
async fn filter_limits() {
    let (app, blog) = blog().await;
    let long = |n: usize| format!("title = \"{}\"", "x".repeat(n - 10));
    assert_eq!(long(3500).len(), 3500);
    assert_eq!(blog.matching(&app, "posts", &long(3500)).await, "");
    assert_plain_error(
        &app.list("posts", &[("filter", &long(3501))]).await,
        400,
        BAD_REQUEST,
    );
    let many = |n: usize| vec!["views = 10"; n].join(" || ");
    assert_eq!(blog.matching(&app, "posts", &many(200)).await, "p1");
    assert_plain_error(
        &app.list("posts", &[("filter", &many(201))]).await,
        400,
        BAD_REQUEST,
    );
}

#[tokio::test]
async fn deep_nesting_is_a_400_not_a_crash() {
    let (app, blog) = blog().await;
    for depth in [200, 1000, 1700] {
        let filter = format!("{}views = 10{}", "(".repeat(depth), ")".repeat(depth));
        let resp = app
            .list("posts", &[("filter", &filter), ("sort", "@rowid")])
            .await;
        match resp.0 {
            200 => assert_eq!(blog.names(&resp.1), "p1", "depth {depth}"),
            400 => assert_eq!(resp.1, plain_error(400, BAD_REQUEST), "depth {depth}"),
            other => panic!("depth {depth}: {other} {}", resp.1),
        }
    }
    // unbalanced and absurdly deep
    let filter = "(".repeat(3400);
    assert_plain_error(
        &app.list("posts", &[("filter", &filter)]).await,
        400,
        BAD_REQUEST,
    );
    let filter = format!("{}1=1", "!".repeat(3000));
    assert_plain_error(
        &app.list("posts", &[("filter", &filter)]).await,
        400,
        BAD_REQUEST,
    );
    // nested function calls
    let filter = format!("{}1{} = 1", "strftime('%Y', ".repeat(50), ")".repeat(50));
    assert_eq!(app.list("posts", &[("filter", &filter)]).await.0, 400);
    // the server is alive and well
    assert_eq!(blog.matching(&app, "posts", "views = 20").await, "p2");
    assert_eq!(app.get("/api/health").await.0, 200);
}

#[tokio::test]
async fn invalid_filters_are_400_with_empty_data() {
    let (app, _blog) = blog().await;
    for filter in [
        "nosuchfield = 1",
        "views ==== 1",
        "views =",
        "title ~ \"a\" &&",
        "true",
        "false",
        "(views > 1",
        "views > 1)",
        "title = \"unterminated",
        "title = \"a\" /* x */",
        "author.nosuch = 1",
        "comments_via_nosuch.text = \"x\"",
        "nosuch_via_post.text = \"x\"",
        "@collection.nosuch.id ?= id",
        "@unknownmacro = 1",
        "title:nosuchmodifier = 1",
        "unknownfn(views) = 1",
        "strftime(title) = 1",
        "geoDistance(1, 2) = 1",
        "title = \"a\" & views = 1",
        "title = \"a\" | views = 1",
    ] {
        assert_plain_error(
            &app.list("posts", &[("filter", filter)]).await,
            400,
            BAD_REQUEST,
        );
    }
}

#[tokio::test]
async fn guests_cannot_filter_or_sort_by_request_or_collection() {
    let (app, blog) = blog().await;
    let guest = app.guest();
    assert_eq!(
        blog.matching(&guest, "posts", "views > 5").await,
        "p1,p2,p4"
    );
    for filter in [
        "@request.auth.id = \"\"",
        "@request.method = \"GET\" && views > 0",
        "views > 0 || @request.query.x = 1",
    ] {
        assert_plain_error(
            &guest.list("posts", &[("filter", filter)]).await,
            403,
            "Only superusers can filter by @request.",
        );
    }
    assert_plain_error(
        &guest
            .list(
                "posts",
                &[("filter", "@collection.authors.name ?= \"Ann\"")],
            )
            .await,
        403,
        "Only superusers can filter by @collection.",
    );
    // a garbage token is a guest too
    let resp = app
        .with_token("garbage")
        .list("posts", &[("filter", "@request.auth.id = \"\"")])
        .await;
    assert_eq!(resp.0, 403);
}

#[tokio::test]
async fn guests_cannot_sort_by_request_or_collection_either() {
    // PocketBase checks both `filter` and `sort` (ruleQueryParams) for the superuser-only roots
    let (app, _blog) = blog().await;
    let guest = app.guest();
    assert_plain_error(
        &guest.list("posts", &[("sort", "@request.auth.id")]).await,
        403,
        "Only superusers can filter by @request.",
    );
    assert_plain_error(
        &guest
            .list("posts", &[("sort", "@collection.authors.name")])
            .await,
        403,
        "Only superusers can filter by @collection.",
    );
}
