from .complexity import PAPER_TABLE, Complexity, PaperRow, build_counted_model, measure, paper_table

__all__ = ['PAPER_TABLE', 'Complexity', 'PaperRow', 'build_counted_model', 'measure',
           'paper_table']
