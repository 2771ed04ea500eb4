"""Splink 5 (DuckDB backend) on two CSV files, as `tsunagu bench link` runs it beside tsunagu.

usage: python bench_link_splink.py febrl4|japanese|synth LEFT.csv RIGHT.csv OUT.csv

`synth` deduplicates LEFT alone (RIGHT is ignored): the identities of a `tsunagu synth`
population, held by many providers, normalised by tsunagu, with the Japanese settings.

Writes the predicted pairs at match probability >= 0.5 (left_id,right_id,match_probability) and
prints one JSON line: seconds (inside Python, after imports) and peak resident memory (KiB).
The settings follow Splink's own FEBRL4 example: name comparisons with Jaro-Winkler levels,
date-of-birth comparison, soc_sec_id with Damerau-Levenshtein, exact street number and
postcode with term-frequency adjustment, u from random sampling and m by EM on two blocking rules.
"""
import json
import resource
import sys
import time

import pandas as pd
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

mode, left, right, out = sys.argv[1:5]
t0 = time.time()
db_api = DuckDBAPI()
if mode == "febrl4":
    id_col = "rec_id"
    df_l = pd.read_csv(left, dtype=str)
    df_r = pd.read_csv(right, dtype=str)
    settings = SettingsCreator(
        unique_id_column_name=id_col,
        link_type="link_only",
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"),
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("postcode", "surname"),
            block_on("suburb", "given_name"),
        ],
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.ExactMatch("suburb").configure(term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    em_rules = [block_on("date_of_birth"), block_on("given_name", "surname")]
    prior_rules = [block_on("soc_sec_id", "date_of_birth")]
else:
    # The Japanese population, given to Splink already normalised by tsunagu (kana folded,
    # variant kanji folded, dates ISO, addresses split): Splink's best case.
    id_col = "id"
    df_l = pd.read_csv(left, dtype=str)
    df_r = None if mode == "synth" else pd.read_csv(right, dtype=str)
    settings = SettingsCreator(
        unique_id_column_name=id_col,
        link_type="dedupe_only" if mode == "synth" else "link_only",
        blocking_rules_to_generate_predictions=[
            block_on("family_name_kana", "given_name_kana"),
            block_on("birth_date"),
            block_on("phone"),
            block_on("insured_number"),
            block_on("postal_code", "family_name_kana"),
        ],
        comparisons=[
            cl.NameComparison("family_name_kana").configure(term_frequency_adjustments=True),
            cl.NameComparison("given_name_kana").configure(term_frequency_adjustments=True),
            cl.ExactMatch("family_name").configure(term_frequency_adjustments=True),
            cl.ExactMatch("given_name").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("birth_date", input_is_string=True, datetime_format="%Y-%m-%d"),
            cl.ExactMatch("sex"),
            cl.ExactMatch("postal_code").configure(term_frequency_adjustments=True),
            cl.ExactMatch("town"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("insured_number"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    em_rules = [block_on("birth_date"), block_on("family_name_kana", "given_name_kana")]
    prior_rules = [block_on("family_name_kana", "given_name_kana", "birth_date")]

sdf_l = db_api.register(df_l, table_name="left_records")
if df_r is None:
    linker = Linker(sdf_l, settings, log_level="WARNING")
else:
    sdf_r = db_api.register(df_r, table_name="right_records")
    linker = Linker([sdf_l, sdf_r], settings, log_level="WARNING")
linker.training.estimate_probability_two_random_records_match(prior_rules, recall=0.7)
linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
for rule in em_rules:
    linker.training.estimate_parameters_using_expectation_maximisation(rule)
pred = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
left_ids = set(df_l[id_col])
rows = []
for a, b, p in zip(pred[f"{id_col}_l"], pred[f"{id_col}_r"], pred["match_probability"]):
    if a not in left_ids:
        a, b = b, a
    rows.append((a, b, p))
pd.DataFrame(rows, columns=["left_id", "right_id", "match_probability"]).to_csv(out, index=False)
seconds = time.time() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_rss_kib": peak, "pairs": len(rows)}))
