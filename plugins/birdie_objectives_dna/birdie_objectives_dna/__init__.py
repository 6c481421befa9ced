"""DNA for Birdie: nucleotide tokenizer, FASTA source, DNA objectives and two small real genomes."""

__version__ = "0.1.0"
