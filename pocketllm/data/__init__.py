"""Data sources → examples: text corpora, classification tables, instruction records."""
from .corpus import Corpus, TokenFile, TokenWindows, file_sha256, load_corpus, max_context_for, tokenize_file
from .instructions import (DEFAULT_TEMPLATE, TEMPLATES, PromptTemplate, Record, collate, get_template, load_instructions,
                           split_records)
from .tables import Table, read_table, stratified_split, undersample
from .text import iter_text_chunks, read_text

__all__ = ["Corpus", "TokenFile", "TokenWindows", "load_corpus", "max_context_for",
           "tokenize_file", "file_sha256", "iter_text_chunks", "read_text",
           "DEFAULT_TEMPLATE", "TEMPLATES", "PromptTemplate", "Record", "collate", "get_template", "load_instructions",
           "split_records", "Table", "read_table", "stratified_split", "undersample"]
