#!/usr/bin/env python3
"""Seeds corpus/filter_to_sql/ with valid filters and sorts (see README.md).

Run from fuzz/: python3 filter_to_sql_seeds.py. Each seed is `<filter> NUL <sort>`; the
`gen_*` seeds start with 0xFF and drive the target's generated mode."""
import hashlib, os, re
out = 'corpus/filter_to_sql'
seeds = []
def add(f, s=''):
    seeds.append((f, s))

# from tests/compat/test/filters.test.js
js = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'compat', 'test', 'filters.test.js')).read()
for m in re.finditer(r"match\((['`])(.*?)\1", js):
    f = m.group(2).replace('${via}', 'comments_via_post')
    add(f)
for m in re.finditer(r"order\('(.*?)'\)", js):
    add('', m.group(1))
# spec examples
for f in ['views > 10 && (tags ~ "c" || title ~ "Hello")',
          'created >= @todayStart && created <= @now',
          '@request.auth.id != "" && author = @request.auth.id',
          '@collection.teams.members ?~ @request.auth.id && @collection.teams.owner ?= author',
          '@request.body.status:isset = false || @request.auth.role = "admin"',
          'geoDistance(loc.lon, loc.lat, 23.32, 42.69) < 25',
          "strftime('%Y-%m', created) = \"2026-11\"",
          'comments_via_post.text ?= "c2"', 'meta.k.0 = 1', 'loc.lat > 40',
          '@request.body.owner:changed = false', 'tags:each ~ "a"', 'tags:length > 0',
          '@collection.posts:p.title ?= title', '@request.auth.team.name = "Core"']:
    add(f)
ops = ['=', '!=', '>', '>=', '<', '<=', '~', '!~', '?=', '?!=', '?>', '?>=', '?<', '?<=', '?~', '?!~']
lefts = ['title', 'views', 'published', 'tags', 'status', 'author', 'editors', 'meta', 'loc', 'body',
         'publishAt', 'files', 'created', 'note', 'id', 'author.name', 'editors.name', 'editors.age',
         'author.team.members.name', 'parent.parent.title', 'related.related.title', 'related.author.friends.name',
         'comments_via_post.text', 'comments_via_post.user.name', 'comments_via_post.replies.text',
         'MixedCase_via_posts.Title', 'mixedcase_via_post.Title', 'tags:each', 'editors:each', 'files:each',
         'tags:length', 'editors:length', 'related:length', 'title:lower', 'author.name:lower',
         'meta.k', 'meta.k.0', 'meta.deep.a.b.0.c', 'meta.s:lower', 'meta.0', 'loc.lon', 'loc.lat',
         'team.settings.tags.1', 'team.members.team.name', 'author.profiles_via_user.bio',
         'author.profiles_via_user.data.a', 'editors.profiles_via_user.home.lat',
         '@request.auth.id', '@request.auth.email', '@request.auth.friends.name', '@request.auth.team.members.name',
         '@request.auth.settings.k.1', '@request.auth.manager.manager.name', '@request.auth.profiles_via_user.bio',
         '@request.auth.id:lower', '@request.auth.friends:each', '@request.auth.collectionName',
         '@request.body.title', '@request.body.title:isset', '@request.body.title:changed', '@request.body.tags:length',
         '@request.body.tags:each', '@request.body.editors.name', '@request.body.author.name', '@request.body.editors:each',
         '@request.body.team.members.name', '@request.body.parent.author.name', '@request.body.meta',
         '@request.query.page', '@request.query.q:lower', '@request.query.q:isset', '@request.headers.x_token',
         '@request.headers.x_token:length', '@request.method', '@request.method:lower', '@request.context',
         '@request.context:isset', '@request.query.q:each',
         '@collection.users.name', '@collection.users:u.friends.name', '@collection.teams:t.members:each',
         '@collection.mixedcase.posts.title', '@collection.comments.replies:length',
         '@now', '@yesterday', '@tomorrow', '@todayStart', '@todayEnd', '@monthStart', '@monthEnd',
         '@yearStart', '@yearEnd', '@second', '@minute', '@hour', '@day', '@month', '@weekday', '@year',
         'null', 'true', 'false', 'NULL', 'True',
         'geoDistance(loc.lon, loc.lat, 1, 2)', 'geoDistance(editors.age, 1, author.age, 2)',
         'strftime("%Y", created)', "strftime('%s', publishAt, 'unixepoch', 'localtime')",
         'strftime("%Y-%m-%d", meta.s, strftime("%s", @now))', 'geoDistance(strftime("%s", created), 0, 0, 0)']
rights = ['"x"', "'%x'", '""', 'null', '10', '-14', '10.50', 'true', 'title', 'editors.name', '@now',
          '@request.body.title', '@request.auth.id', 'comments_via_post.id', 'meta.k.1', 'tags:each',
          '"a\\\\"', '"100%"', '"_"', '"\\\\%"', '"%\\\\"']
i = 0
for l in lefts:
    for j, op in enumerate(ops):
        r = rights[(i * 7 + j) % len(rights)]
        i += 1
        add(f'{l} {op} {r}')
for r in rights:
    add(f'title = {r} || views > {r} && editors.name ?~ {r}')
# users / teams / comments oriented
for f in ['friends.name ?= "Ann"', 'manager.manager.manager.manager.manager.manager.name = ""',
          'users_via_manager.users_via_manager.name ?= "Bob"', 'teams_via_members.name ?= "Core"',
          'posts_via_author.title ?~ "o" && posts_via_editors.views ?> 3', 'profiles_via_user.bio = "hi"',
          'secret = "s1" && password != "" && tokenKey ?= "tk1"', 'email ~ "@example" && emailVisibility = true',
          'settings.theme = "dark" && settings.k:lower = 1', 'members:length > 1 && members.team.name ?= name',
          'order > 0 && group = "g" && value = "v" && key = "k" && rowid = "r"', 'owner.friends:each ?= members:each',
          'replies.replies.replies.text ?= "x"', 'post.author.friends.profiles_via_user.data.a ?= 1',
          'comments_via_replies.text ?= text', 'Title = "M" && posts.title ?~ post.title',
          'name ~ "core" && type = "base" && system = false', 'created > "2024" && updated = ""',
          'teams_via_owner.members.posts_via_author.comments_via_post.user.name ?= "Ann"',
          # the view `stats`: computed columns are json fields
          'shout = "Ann!" && blank = "" && answer > 1 && nposts >= 0', 'pals.name ?= "Bob" && team.name != ""',
          'stats_via_pals.name ?= "" && stats_via_team.settings.k ?= 1', 'pals:length > 0 && pals:each ?= "u1"']:
    add(f)
# deep / wide
add(' || '.join(['views = 10'] * 200))
add(' && '.join([f'editors.name ?= "{k}"' for k in range(40)]))
add(' && '.join([f'@collection.users:a{k}.id ?= id' for k in range(10)]))
add('((((title = "a" || (views > 1 && (tags ~ "b" || (author.name = "c")))))))')
# sorts
sorts = ['-created,title', '@random', '-@rowid', 'author.name,-views', 'title:lower', 'meta.s,-@rowid',
         'parent.parent.title', 'author.team.name', 'profiles_via_user.bio', 'author.profiles_via_user.data.a',
         '@request.auth.id', '@request.body.title:changed', '@request.body.author.name', '@request.query.page',
         '@now,null,true', 'loc.lat,-loc.lon', 'manager.manager.name,-age', 'name,order,group,value,key,rowid',
         'type,-system,name', 'Title,post.title', '-nposts,shout,name']
for s in sorts:
    add('', s)
    add('views > 0', s)
    add('editors.name ?= "Ann" && @request.auth.id != ""', s)

os.makedirs(out, exist_ok=True)
for f, s in seeds:
    data = f.encode() + (b'\0' + s.encode() if s else b'')
    name = hashlib.sha1(data).hexdigest()
    open(os.path.join(out, name), 'wb').write(data)

# Generated mode: random choice streams of several lengths (deterministic).
import random
rng = random.Random(20260101)
for i in range(400):
    data = b'\xff' + bytes(rng.randrange(256) for _ in range(16 + (i * 7) % 300))
    open(os.path.join(out, 'gen_' + hashlib.sha1(data).hexdigest()[:16]), 'wb').write(data)
print(f'{len(seeds)} text seeds and 400 generated-mode seeds in {out}')
