"""One module per tab.  Each defines `build(ctx: ui.app.TabContext)`, called inside
its `gr.Tab`; see ui/README.md.  `ui.app.TABS` lists the modules in page order."""
