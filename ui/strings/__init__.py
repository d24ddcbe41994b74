"""Page texts: one module per tab (plus `common`, `plots`), each with `EN` and `ZH` dicts.

Keys are prefixed with the module name ("pretrain.start").  Values may hold
`{placeholders}` filled by `ui.i18n.t(lang, key, **values)`.  Every module here
is loaded automatically.
"""
