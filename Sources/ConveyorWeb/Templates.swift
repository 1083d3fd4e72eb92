import Mustache

/// The page templates (Mustache; `{{x}}` escapes, `{{{x}}}` is only used for markup built
/// here from numbers or from already-escaped templates).
enum Templates {
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        for (name, text) in all { try library.register(text, named: name) }
        return library
    }

    static let all: [(String, String)] = [
        ("layout", layout), ("button", button), ("dashboard", dashboard), ("processes", processes), ("queues", queues),
        ("queue", queue), ("set", sortedSet), ("busy", busy), ("migrations", migrations), ("migration", migration),
        ("job", job), ("periodic", PeriodicPages.template), ("error", errorPage),
    ]

    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        {{#refreshSeconds}}<meta http-equiv="refresh" content="{{refreshSeconds}}">{{/refreshSeconds}}
        <title>{{title}} · Conveyor</title>
        <link rel="stylesheet" href="/assets/conveyor.css">
        </head>
        <body>
        <header>
        <a class="brand" href="/">Conveyor</a>
        <nav>{{#nav}}<a href="{{href}}"{{#active}} class="active" aria-current="page"{{/active}}>{{label}}</a>{{/nav}}</nav>
        <a class="refresh" href="{{refreshToggleHref}}">{{refreshToggleLabel}}</a>
        </header>
        <main>
        <h1>{{title}}</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        {{{body}}}
        </main>
        <footer>Conveyor {{version}} · Redis {{redis}}{{#database}} · PostgreSQL {{database}}{{/database}}</footer>
        </body>
        </html>
        """

    /// A POST form with the CSRF token: {action, label, csrf, returnTo, style?, fields[{name,value}]}.
    static let button = """
        <form method="post" action="{{action}}" class="inline"><input type="hidden" name="authenticity_token" value="{{csrf}}"><input type="hidden" name="return_to" value="{{returnTo}}">{{#fields}}<input type="hidden" name="{{name}}" value="{{value}}">{{/fields}}<button class="{{style}}">{{label}}</button></form>
        """

    static let dashboard = """
        <section class="stats">
        {{#stats}}<a class="stat" href="{{href}}"><span class="value">{{value}}</span><span class="label">{{label}}</span></a>{{/stats}}
        </section>
        {{> processes}}
        <h2>Queues</h2>
        {{> queues}}
        """

    static let processes = """
        <h2>Processes</h2>
        <table>
        <thead><tr><th>Process</th><th>Started</th><th>Queues</th><th>Busy</th><th>RSS</th><th>Last beat</th><th>Status</th><th></th></tr></thead>
        <tbody>
        {{#processes}}<tr><td><strong>{{hostname}}:{{pid}}</strong>{{#tag}} <span class="tag">{{tag}}</span>{{/tag}}<br><small>{{identity}}</small></td><td>{{started}}</td><td>{{queues}}</td><td>{{busy}} / {{concurrency}}</td><td>{{rss}}</td><td>{{beat}}</td><td>{{#quiet}}<span class="badge warning">quiet</span>{{/quiet}}{{^quiet}}<span class="badge success">running</span>{{/quiet}}</td><td class="actions">{{#actions}}{{> button}}{{/actions}}</td></tr>
        {{/processes}}
        {{^processes}}<tr><td colspan="8" class="empty">No worker processes are running.</td></tr>{{/processes}}
        </tbody></table>
        """

    static let queues = """
        <table>
        <thead><tr><th>Queue</th><th class="num">Size</th><th class="num">Latency</th><th></th></tr></thead>
        <tbody>
        {{#queues}}<tr><td><a href="{{href}}">{{name}}</a></td><td class="num">{{size}}</td><td class="num">{{latency}}</td><td class="actions">{{#clear}}{{> button}}{{/clear}}</td></tr>
        {{/queues}}
        {{^queues}}<tr><td colspan="4" class="empty">No queues.</td></tr>{{/queues}}
        </tbody></table>
        """

    static let queue = """
        <p>{{size}} jobs, oldest waiting {{latency}}. {{#clear}}{{> button}}{{/clear}}</p>
        <table>
        <thead><tr><th>Job</th><th>Arguments</th><th>Enqueued</th><th></th></tr></thead>
        <tbody>
        {{#jobs}}<tr><td><strong>{{className}}</strong><br><small>{{jid}}</small></td><td><code>{{args}}</code></td><td>{{enqueued}}</td><td class="actions">{{#delete}}{{> button}}{{/delete}}</td></tr>
        {{/jobs}}
        {{^jobs}}<tr><td colspan="4" class="empty">This queue is empty.</td></tr>{{/jobs}}
        </tbody></table>
        {{#pager}}<p class="pager">{{#previous}}<a href="{{previous}}">← newer</a>{{/previous}} {{#next}}<a href="{{next}}">older →</a>{{/next}}</p>{{/pager}}
        """

    static let sortedSet = """
        <p>{{size}} jobs. {{#clearAll}}{{> button}}{{/clearAll}}</p>
        <table>
        <thead><tr><th>{{whenLabel}}</th><th>Job</th><th>Arguments</th>{{#showErrors}}<th>Error</th>{{/showErrors}}<th></th></tr></thead>
        <tbody>
        {{#entries}}<tr><td>{{when}}</td><td><strong>{{className}}</strong> <span class="tag">{{queue}}</span><br><small>{{jid}}</small>{{#retryCount}}<br><small>retried {{retryCount}}×</small>{{/retryCount}}</td><td><code>{{args}}</code></td>{{#showErrors}}<td class="error-text">{{#errorClass}}<strong>{{errorClass}}</strong>: {{/errorClass}}{{errorMessage}}</td>{{/showErrors}}<td class="actions">{{#actions}}{{> button}}{{/actions}}</td></tr>
        {{/entries}}
        {{^entries}}<tr><td colspan="5" class="empty">Nothing here.</td></tr>{{/entries}}
        </tbody></table>
        {{#pager}}<p class="pager">{{#previous}}<a href="{{previous}}">← previous</a>{{/previous}} {{#next}}<a href="{{next}}">next →</a>{{/next}}</p>{{/pager}}
        """

    static let busy = """
        {{> processes}}
        <h2>Running jobs</h2>
        <table>
        <thead><tr><th>Process</th><th>Thread</th><th>Queue</th><th>Job</th><th>Arguments</th><th>Started</th></tr></thead>
        <tbody>
        {{#running}}<tr><td><small>{{process}}</small></td><td>{{thread}}</td><td>{{queue}}</td><td><strong>{{className}}</strong><br><small>{{jid}}</small></td><td><code>{{args}}</code></td><td>{{started}}</td></tr>
        {{/running}}
        {{^running}}<tr><td colspan="6" class="empty">Nothing is running.</td></tr>{{/running}}
        </tbody></table>
        """

    static let migrations = """
        {{#disabled}}<p class="error">Batched background migrations are disabled: running batches complete, no new ones start. <code>conveyor migrations enable</code> turns them back on.</p>{{/disabled}}
        <nav class="tabs">{{#tabs}}<a href="{{href}}"{{#active}} class="active" aria-current="page"{{/active}}>{{label}} <span class="count">{{count}}</span></a>{{/tabs}}</nav>
        <table>
        <thead><tr><th>Migration</th><th>Progress</th><th>Status</th><th class="num">Batch</th><th class="num">Rows/s</th><th>ETA</th><th></th></tr></thead>
        <tbody>
        {{#migrations}}<tr><td><a href="{{href}}">{{jobClassName}}: {{tableName}}</a><br><small>#{{id}} · {{columnName}} · <code>{{jobArguments}}</code></small></td><td><progress max="100" value="{{progressValue}}">{{progress}}</progress> {{progress}}</td><td><span class="badge {{badge}}">{{status}}</span>{{#onHold}}<br><small>on hold until {{onHold}}</small>{{/onHold}}</td><td class="num">{{batchSize}}</td><td class="num">{{rowsPerSecond}}</td><td>{{eta}}</td><td class="actions">{{#actions}}{{> button}}{{/actions}}</td></tr>
        {{/migrations}}
        {{^migrations}}<tr><td colspan="7" class="empty">No {{tabName}} migrations.</td></tr>{{/migrations}}
        </tbody></table>
        """

    static let migration = """
        <p class="actions">{{#actions}}{{> button}}{{/actions}}</p>
        <dl class="fields">
        {{#fields}}<dt>{{name}}</dt><dd>{{value}}</dd>{{/fields}}
        </dl>
        <h2>Recent batches</h2>
        {{#chart}}<figure class="chart">{{{chart}}}<figcaption>Bars: duration of the last {{chartCount}} batches (tallest {{chartMax}}); line: batch size (largest {{chartMaxSize}} rows).</figcaption></figure>{{/chart}}
        {{^chart}}<p class="empty">No batch has finished yet.</p>{{/chart}}
        <h2>Failed jobs</h2>
        <table>
        <thead><tr><th>Job</th><th>Range</th><th class="num">Batch size</th><th class="num">Attempts</th><th>Started</th><th>Finished</th><th>Last error</th></tr></thead>
        <tbody>
        {{#failedJobs}}<tr><td><a href="{{href}}">{{id}}</a></td><td>{{range}}</td><td class="num">{{batchSize}}</td><td class="num">{{attempts}}</td><td>{{started}}</td><td>{{finished}}</td><td class="error-text">{{error}}</td></tr>
        {{/failedJobs}}
        {{^failedJobs}}<tr><td colspan="7" class="empty">No failed jobs.</td></tr>{{/failedJobs}}
        </tbody></table>
        {{#tuning}}<h2>Tune</h2>
        <form method="post" action="{{action}}" class="tuning"><input type="hidden" name="authenticity_token" value="{{csrf}}"><input type="hidden" name="return_to" value="{{returnTo}}">
        {{#inputs}}<label>{{label}} <input type="number" name="{{name}}" value="{{value}}" min="{{min}}" max="{{max}}"></label> {{/inputs}}<button class="primary">Update</button>
        <small>Applies from the next batch.</small></form>{{/tuning}}
        <h2>History</h2>
        <table>
        <thead><tr><th>When</th><th>Who</th><th>Action</th><th>Changes</th></tr></thead>
        <tbody>
        {{#history}}<tr><td>{{at}}</td><td>{{actor}}</td><td>{{action}}</td><td>{{changes}}</td></tr>
        {{/history}}
        {{^history}}<tr><td colspan="4" class="empty">No recorded actions.</td></tr>{{/history}}
        </tbody></table>
        """

    static let job = """
        <p><a href="{{migrationHref}}">← migration {{migrationID}}</a></p>
        <dl class="fields">
        {{#fields}}<dt>{{name}}</dt><dd>{{value}}</dd>{{/fields}}
        </dl>
        <h2>Transition logs</h2>
        <table>
        <thead><tr><th>When</th><th>From</th><th>To</th><th>Exception</th></tr></thead>
        <tbody>
        {{#logs}}<tr><td>{{when}}</td><td>{{from}}</td><td>{{to}}</td><td class="error-text">{{#exceptionClass}}<strong>{{exceptionClass}}</strong>: {{/exceptionClass}}{{exceptionMessage}}</td></tr>
        {{/logs}}
        {{^logs}}<tr><td colspan="4" class="empty">No transitions yet.</td></tr>{{/logs}}
        </tbody></table>
        """

    static let errorPage = """
        <p class="error">{{message}}</p>
        <p><a href="/">Back to the dashboard</a></p>
        """

    static let stylesheet = """
        :root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #ffffff; --band: #f6f8fa;
                --accent: #0969da; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --info: #0550ae; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
        header { display: flex; flex-wrap: wrap; align-items: center; gap: 1rem; padding: .6rem 1.2rem; background: #24292f; }
        header a { color: #f0f3f6; text-decoration: none; }
        header .brand { font-weight: 700; font-size: 1.1rem; }
        header nav { display: flex; flex-wrap: wrap; gap: .2rem; flex: 1; }
        header nav a { padding: .3rem .6rem; border-radius: 6px; }
        header nav a.active, header nav a:hover { background: #3d444d; }
        header .refresh { font-size: .85rem; opacity: .85; }
        main { padding: 1rem 1.2rem 3rem; max-width: 1400px; }
        h1 { font-size: 1.5rem; margin: .4rem 0 1rem; }
        h2 { font-size: 1.15rem; margin: 1.6rem 0 .6rem; }
        table { border-collapse: collapse; width: 100%; background: var(--bg); }
        th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: var(--band); font-weight: 600; font-size: .85rem; color: var(--muted); }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        td.empty, p.empty { color: var(--muted); font-style: italic; }
        td.actions, p.actions { white-space: nowrap; }
        code { font: .85em ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
        small { color: var(--muted); }
        a { color: var(--accent); }
        form.inline { display: inline; margin: 0 .2rem 0 0; }
        button { font: inherit; font-size: .85rem; padding: .25rem .7rem; border: 1px solid var(--line); border-radius: 6px; background: var(--band); cursor: pointer; }
        button:hover { border-color: var(--muted); }
        button.danger { color: var(--bad); }
        button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
        .stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: .6rem; }
        .stat { display: block; padding: .7rem .9rem; border: 1px solid var(--line); border-radius: 8px; text-decoration: none; color: var(--fg); }
        .stat .value { display: block; font-size: 1.5rem; font-weight: 700; font-variant-numeric: tabular-nums; }
        .stat .label { color: var(--muted); font-size: .85rem; }
        .badge { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-size: .8rem; font-weight: 600; border: 1px solid currentColor; }
        .badge.success { color: var(--ok); } .badge.warning { color: var(--warn); } .badge.danger { color: var(--bad); } .badge.info { color: var(--info); }
        .tag { font-size: .75rem; padding: 0 .35rem; border-radius: 4px; background: var(--band); border: 1px solid var(--line); }
        .notice { padding: .6rem .8rem; border-radius: 6px; background: #dafbe1; border: 1px solid #aceebb; }
        .error { padding: .6rem .8rem; border-radius: 6px; background: #ffebe9; border: 1px solid #ffcecb; }
        .error-text { color: var(--bad); max-width: 40rem; word-break: break-word; }
        nav.tabs { display: flex; gap: .3rem; border-bottom: 1px solid var(--line); margin-bottom: .8rem; }
        nav.tabs a { padding: .45rem .8rem; text-decoration: none; color: var(--fg); border-bottom: 2px solid transparent; }
        nav.tabs a.active { border-bottom-color: #fd8c73; font-weight: 600; }
        nav.tabs .count { display: inline-block; min-width: 1.4rem; padding: 0 .35rem; border-radius: 1rem; background: var(--band); font-size: .8rem; text-align: center; }
        progress { width: 8rem; vertical-align: middle; }
        dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1.2rem; margin: 0; }
        dl.fields dt { color: var(--muted); } dl.fields dd { margin: 0; word-break: break-word; }
        figure.chart { margin: 0; } figure.chart svg { width: 100%; max-width: 900px; height: auto; border: 1px solid var(--line); border-radius: 6px; }
        figcaption { color: var(--muted); font-size: .85rem; }
        .pager { margin-top: .8rem; }
        footer { padding: 1rem 1.2rem; color: var(--muted); font-size: .8rem; border-top: 1px solid var(--line); }
        """
}
