/// The pages' stylesheet, inlined so a page looks right even before (or without) any static file.
extension Pages {
    static let style = """
        :root{--bg:#f4f5f8;--card:#fff;--ink:#161a23;--muted:#677084;--line:#e6e8ee;--accent:#4f46e5;\
        --accent-soft:#eef0ff;--ok:#16a34a;--warn:#d97706;--poll:#0284c7;--idle:#8a93a6;\
        font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
        *{box-sizing:border-box}html{overflow-anchor:none}body{margin:0;min-height:100vh;display:flex;flex-direction:column}
        a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
        code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:#0000000d;padding:.05rem .3rem;border-radius:.25rem}
        .top{background:#141827;color:#fff;position:sticky;top:0;z-index:5;box-shadow:0 1px 0 #0003}
        .bar{max-width:60rem;margin:0 auto;padding:.55rem 1rem;display:flex;align-items:center;gap:.4rem 1.25rem;flex-wrap:wrap}
        .brand{display:flex;align-items:center;gap:.45rem;color:#fff;font-weight:700;font-size:1.05rem;letter-spacing:.01em}
        .brand svg{color:#8b85ff}.brand:hover{text-decoration:none}
        nav{display:flex;gap:.25rem}nav a{color:#c9cee0;padding:.3rem .65rem;border-radius:.45rem;font-weight:500}
        nav a:hover{background:#ffffff14;color:#fff;text-decoration:none}nav a[aria-current]{background:#ffffff1f;color:#fff}
        #live-status{margin-left:auto;display:inline-flex;align-items:center;gap:.45rem;font-size:.82rem;font-weight:600;\
        padding:.25rem .7rem .25rem .55rem;border-radius:99rem;background:#ffffff14;color:#e6e9f5;white-space:nowrap}
        #live-status .dot{flex:none;width:.55rem;height:.55rem;border-radius:50%;background:var(--idle);display:inline-block}
        #live-status[data-state=connected] .dot{background:#22c55e;box-shadow:0 0 0 3px #22c55e33}
        #live-status[data-state=reconnecting] .dot{background:#f59e0b;animation:pulse 1s ease-in-out infinite}
        #live-status[data-state=fallback] .dot{background:#38bdf8}
        @keyframes pulse{50%{opacity:.25}}
        .notice{max-width:58rem;margin:1.25rem auto 0;padding:.7rem 1rem;background:#fff7e6;border:1px solid #f5d38a;\
        border-radius:.6rem;color:#5c4300;width:calc(100% - 2rem)}
        main{max-width:60rem;width:100%;margin:0 auto;padding:1.25rem 1rem 2rem;flex:1}
        footer{max-width:60rem;width:100%;margin:0 auto;padding:0 1rem 1.5rem;color:var(--muted);font-size:.8rem}
        h1{font-size:1.6rem;line-height:1.2;margin:0}h2{font-size:.8rem;text-transform:uppercase;letter-spacing:.06em;\
        color:var(--muted);margin:0 0 .75rem}
        .page-head{margin:.25rem 0 1.1rem}.sub{color:var(--muted);margin:.25rem 0 0}.muted{color:var(--muted)}
        .card{background:var(--card);border:1px solid var(--line);border-radius:.8rem;padding:1rem 1.1rem;\
        margin:0 0 1rem;box-shadow:0 1px 2px #0000000a}
        .card.flush{padding:0;overflow:hidden}.empty{color:var(--muted)}
        .columns{display:grid;grid-template-columns:1fr 1fr;gap:0 1rem;align-items:start}.columns.wide-left{grid-template-columns:2fr 1fr}
        .button{display:inline-block;padding:.35rem .8rem;border:1px solid var(--line);border-radius:.5rem;\
        background:#fff;font-weight:500;font-size:.88rem}.button:hover{background:var(--accent-soft);text-decoration:none}
        .totals{display:grid;grid-template-columns:repeat(3,1fr);gap:1rem;margin-bottom:1rem}
        .stat{background:var(--card);border:1px solid var(--line);border-radius:.8rem;padding:.8rem 1.1rem;\
        box-shadow:0 1px 2px #0000000a}
        .stat .label{display:block;color:var(--muted);font-size:.8rem;font-weight:600;text-transform:uppercase;letter-spacing:.05em}
        .stat b{display:block;font-size:1.9rem;line-height:1.2;font-variant-numeric:tabular-nums}
        .chart{margin:0}.chart figcaption{display:flex;justify-content:space-between;gap:.5rem 1rem;flex-wrap:wrap;\
        margin-bottom:.6rem;font-size:.9rem}
        .plot{position:relative;height:130px;padding-left:2.2rem}.plot svg{width:100%;height:100%;display:block;overflow:visible}
        .plot .ymax,.plot .ymid{position:absolute;left:0;width:1.8rem;text-align:right;font-size:.7rem;color:var(--muted);\
        line-height:1;font-variant-numeric:tabular-nums}.plot .ymax{top:-.35rem}.plot .ymid{top:calc(50% - .35rem)}
        .chart .bar{fill:#a5a1ff}.chart .bar.now{fill:var(--accent)}.chart .bar:hover{fill:#312bb5}
        .chart .grid{stroke:var(--line);stroke-dasharray:3 3;vector-effect:non-scaling-stroke}
        .chart .axis{stroke:#c9cdd8;vector-effect:non-scaling-stroke}
        .xaxis{display:flex;justify-content:space-between;padding-left:2.2rem;font-size:.72rem;color:var(--muted);margin-top:.3rem}
        .ranking{list-style:none;margin:0;padding:0}
        .ranking li{position:relative;display:flex;align-items:center;gap:.55rem;padding:.4rem .55rem;margin:.2rem 0;\
        border-radius:.45rem;z-index:0}
        .ranking li::before{content:"";position:absolute;inset:0 auto 0 0;width:var(--share);background:var(--accent-soft);\
        border-radius:.45rem;z-index:-1}
        .ranking li a{font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
        .ranking .n{margin-left:auto;font-variant-numeric:tabular-nums;color:var(--muted);font-weight:600}
        table.list{width:100%;border-collapse:collapse}
        .list th{font-size:.75rem;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);text-align:left;\
        padding:.7rem 1.1rem;border-bottom:1px solid var(--line);background:#fafbfc}
        .list td{padding:.6rem 1.1rem;border-bottom:1px solid var(--line)}.list tr:last-child td{border-bottom:0}
        .list tr:hover td{background:#fafaff}.list .n{text-align:right;font-variant-numeric:tabular-nums}
        .list a.channel,.list a.person{font-weight:600;display:inline-flex;align-items:center;gap:.6rem}
        .grew{margin:0 0 1rem;padding:.6rem 1rem;border-radius:.6rem;background:var(--accent-soft);color:#312e81}
        .count{font-variant-numeric:tabular-nums;border-radius:.3rem}
        .count.bumped{animation:bump 1.2s ease-out}@keyframes bump{from{background:#c7f5d4;color:#0b5a26}}
        .avatar{flex:none;display:inline-grid;place-items:center;width:2rem;height:2rem;border-radius:50%;color:#fff;\
        font-weight:700;font-size:.85rem;background:hsl(var(--hue) 55% 47%);text-decoration:none}
        .avatar:hover{text-decoration:none}.avatar.large{width:3.6rem;height:3.6rem;font-size:1.5rem}
        .ranking .avatar,.list .avatar{width:1.6rem;height:1.6rem;font-size:.72rem}
        .profile{display:flex;align-items:center;gap:1rem;margin:.25rem 0 1.2rem}
        ol.messages{list-style:none;margin:0;padding:0}
        ol.messages li{display:grid;grid-template-columns:2rem 1fr;column-gap:.7rem;padding:.6rem 0;border-top:1px solid #f0f1f5}
        ol.messages li:first-child{border-top:0}ol.messages li.empty{display:block}
        ol.messages li .avatar{grid-row:span 2}
        .meta{display:flex;align-items:baseline;gap:.5rem;min-width:0;flex-wrap:wrap}
        .who{font-weight:650;color:var(--ink)}.in{font-size:.82rem;font-weight:500}
        .when{color:var(--muted);font-size:.78rem;font-variant-numeric:tabular-nums}
        .text{margin:.1rem 0 0;overflow-wrap:anywhere;white-space:pre-wrap}
        ol.messages li.fresh{animation:fresh 2s ease-out}@keyframes fresh{from{background:#eef0ff}}
        #user-messages li{grid-template-columns:1fr}#user-messages .avatar,#user-messages .who{display:none}
        #user-messages .in{font-size:.88rem;font-weight:600}
        .stream{padding-top:.4rem;padding-bottom:.4rem}
        .history{text-align:center;padding:.5rem 0 .7rem;border-bottom:1px solid #f0f1f5;color:var(--muted);font-size:.85rem}
        .history .htmx-request{opacity:.5;pointer-events:none}
        .jump{position:fixed;left:50%;bottom:1.2rem;transform:translateX(-50%);background:var(--accent);color:#fff;\
        padding:.5rem 1rem;border-radius:99rem;font-weight:600;font-size:.88rem;box-shadow:0 4px 14px #4f46e555}
        .jump:hover{text-decoration:none;background:#4338ca}
        @media (max-width:640px){
        .bar{padding:.5rem .75rem}nav{order:3;width:100%;justify-content:space-between}nav a{flex:1;text-align:center}
        main{padding:1rem .75rem 1.5rem}footer{padding:0 .75rem 1.2rem}h1{font-size:1.35rem}
        .columns,.columns.wide-left{grid-template-columns:1fr}
        .totals{gap:.5rem}.stat{padding:.6rem .7rem}.stat b{font-size:1.35rem}.stat .label{font-size:.68rem}
        .card{padding:.85rem .85rem}.list th,.list td{padding:.55rem .85rem}.plot{height:110px}
        .notice{width:calc(100% - 1.5rem)}}
        """
}
